// pmi-shim-hook: the OCI hook (stage names as first operand), and the verbs
// explain, runtime, cdi. Dispatch only; each verb lives in its own file.
#include <unistd.h>

#include <iostream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/log.h"
#include "hook/apply/apply.h"
#include "hook/cdi_command.h"
#include "hook/environment.h"
#include "hook/explain_command.h"
#include "hook/runtime_command.h"
#include "hook/stage_command.h"

extern char** environ;

namespace {

using pmi_shim::hook::AdminConfig;

constexpr char kUsage[] =
    "Usage: pmi-shim-hook [--config FILE] STAGE      OCI hook; state on stdin\n"
    "                                                 (createRuntime, poststop)\n"
    "       pmi-shim-hook explain --bundle DIR [--state FILE] [--json]\n"
    "                                                 dry run: decision, plan, config diff\n"
    "       pmi-shim-hook runtime [--runtime PATH] -- RUNC-ARGS...\n"
    "                                                 runtime wrapper (Docker daemon.json)\n"
    "       pmi-shim-hook cdi [--prefix DIR] [--output FILE]\n"
    "                                                 CDI spec for --device "
    "pmi-shim.org/shim=tools\n"
    "\n"
    "Run 'pmi-shim-hook VERB --help' for a verb's options.\n";

pmi_shim::hook::ApplyOptions ApplyOptionsFor(const AdminConfig& admin) {
  pmi_shim::hook::ApplyOptions options;
  options.state_dir = admin.state_dir;
  options.self_path = pmi_shim::hook::SelfExecutable();
  return options;
}

int RunStage(const std::vector<std::string>& args) {
  pmi_shim::hook::ScrubEnvironment();
  pmi_shim::hook::Appliers appliers{
      [](const pmi_shim::hook::Plan& plan, const AdminConfig& admin) {
        return pmi_shim::hook::ApplyPlan(plan, ApplyOptionsFor(admin));
      },
      [](const std::string& id, const AdminConfig& admin) {
        return pmi_shim::hook::CleanupContainer(id, ApplyOptionsFor(admin));
      }};
  return pmi_shim::hook::RunStageCommand(args, STDIN_FILENO, appliers);
}

}  // namespace

int main(int argc, char** argv) {
  pmi_shim::log::Init("pmi-shim-hook");
  const std::vector<std::string> args(argv + 1, argv + argc);
  if (args.empty()) {
    std::cerr << kUsage;
    return 2;
  }
  const std::string& verb = args[0];
  const std::vector<std::string> rest(args.begin() + 1, args.end());
  if (verb == "--help" || verb == "-h") {
    std::cout << kUsage;
    return 0;
  }
  if (verb == "explain") return pmi_shim::hook::RunExplainCommand(rest);
  if (verb == "runtime") return pmi_shim::hook::RunRuntimeCommand(rest, environ);
  if (verb == "cdi") return pmi_shim::hook::RunCdiCommand(rest);
  if (verb == "relay") {  // internal: started by the applier, not for users
    pmi_shim::hook::ScrubEnvironment();
    return pmi_shim::hook::RunRelayVerb(rest);
  }
  if (verb == "--config" || verb.rfind("--config=", 0) == 0 || pmi_shim::hook::IsStageName(verb)) {
    return RunStage(args);
  }
  pmi_shim::log::Error(absl::StrCat("unknown stage or verb '", verb,
                                    "'; expected createRuntime, poststop, explain, runtime or "
                                    "cdi (run 'pmi-shim-hook --help')"));
  return 2;
}
