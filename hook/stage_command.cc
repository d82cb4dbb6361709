#include "hook/stage_command.h"

#include <iostream>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/log.h"
#include "common/status_macros.h"
#include "hook/decision.h"
#include "hook/environment.h"
#include "hook/explain.h"
#include "hook/json_input.h"
#include "hook/oci_config.h"
#include "hook/planner.h"

namespace pmi_shim::hook {
namespace {

constexpr char kUsage[] =
    "Usage: pmi-shim-hook [--config FILE] STAGE < STATE\n"
    "\n"
    "The OCI hook: reads the container state (JSON) on stdin and the bundle's\n"
    "config.json. STAGE is createRuntime (also accepted: prestart,\n"
    "createContainer) or poststop. Containers that do not ask for pmi-shim\n"
    "are left alone.\n"
    "\n"
    "Options:\n"
    "  --config FILE   admin config (default /etc/pmi-shim/hook.json)\n"
    "  --help          show this help\n";

struct StageArgs {
  std::string config_path = kDefaultAdminConfigPath;
  bool config_given = false;
  std::string stage;
  bool help = false;
};

// Hand-parsed: this path runs for every container, and stays minimal.
absl::Status ParseStageArgs(const std::vector<std::string>& args, StageArgs& out) {
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& arg = args[i];
    if (arg == "--help" || arg == "-h") {
      out.help = true;
    } else if (arg == "--config" && i + 1 < args.size()) {
      out.config_path = args[++i];
      out.config_given = true;
    } else if (absl::StartsWith(arg, "--config=")) {
      out.config_path = arg.substr(9);
      out.config_given = true;
    } else if (IsStageName(arg) && out.stage.empty()) {
      out.stage = arg;
    } else {
      return absl::InvalidArgumentError(absl::StrCat("unexpected argument '", arg, "'"));
    }
  }
  if (out.stage.empty() && !out.help) return absl::InvalidArgumentError("missing STAGE");
  return absl::OkStatus();
}

absl::Status CreateStage(const OciState& state, const AdminConfig& admin,
                         const Appliers& appliers) {
  const std::string config_path = state.bundle + "/config.json";
  ASSIGN_OR_RETURN(std::string text, ReadBoundedFile(config_path));
  ASSIGN_OR_RETURN(ContainerConfig config, ParseConfig(text, config_path, state.bundle));
  const Decision decision = Decide(config, admin.gating);
  if (std::string note = StrandedPmiFdNote(config); !note.empty()) {
    log::Warning(absl::StrCat("container ", state.id, ": ", note));
  }
  if (!decision.asked) return absl::OkStatus();
  log::Info(absl::StrCat("container ", state.id, ": ", decision.why));
  PlanOptions options{ResolveToolsDir(admin), nullptr};
  ASSIGN_OR_RETURN(Plan plan, BuildPlan(state, config, admin, options));
  for (const std::string& note : plan.notes)
    log::Info(absl::StrCat("container ", state.id, ": ", note));
  log::Debug(absl::StrCat("container ", state.id, ": plan ", PlanToJson(plan).dump()));
  if (plan.empty()) return absl::OkStatus();
  RETURN_IF_ERROR(appliers.apply(plan, admin));
  log::Info(absl::StrCat("container ", state.id, ": applied ", plan.mounts.size(), " mount(s), ",
                         plan.relays.size(), " relay(s)"));
  return absl::OkStatus();
}

absl::Status RunStage(const StageArgs& args, int state_fd, const Appliers& appliers) {
  ASSIGN_OR_RETURN(std::string state_text, ReadBoundedFd(state_fd, "the state on stdin"));
  ASSIGN_OR_RETURN(OciState state, ParseState(state_text, "the state on stdin"));
  ASSIGN_OR_RETURN(AdminConfig admin, LoadAdminConfig(args.config_path, args.config_given));
  if (!admin.log_file.empty()) RETURN_IF_ERROR(log::SetJsonFile(admin.log_file));
  absl::Status done = args.stage == "poststop" ? appliers.cleanup(state.id, admin)
                                               : CreateStage(state, admin, appliers);
  if (done.ok()) return done;
  return absl::Status(
      done.code(), absl::StrCat("container ", state.id, " (", args.stage, "): ", done.message()));
}

}  // namespace

bool IsStageName(const std::string& word) {
  return word == "createRuntime" || word == "prestart" || word == "createContainer" ||
         word == "poststop";
}

int RunStageCommand(const std::vector<std::string>& args, int state_fd, const Appliers& appliers) {
  StageArgs parsed;
  if (absl::Status status = ParseStageArgs(args, parsed); !status.ok()) {
    log::Error(absl::StrCat(status.message(), "; run '", log::ProgramName(), " --help'"));
    return 2;
  }
  if (parsed.help) {
    std::cout << kUsage;
    return 0;
  }
  if (absl::Status status = RunStage(parsed, state_fd, appliers); !status.ok()) {
    log::Error(status.message());
    return 1;
  }
  return 0;
}

}  // namespace pmi_shim::hook
