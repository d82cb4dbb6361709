#include "hook/runtime_command.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <iostream>
#include <nlohmann/json.hpp>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "common/log.h"
#include "common/status_macros.h"
#include "common/unique_fd.h"
#include "hook/admin_config.h"
#include "hook/decision.h"
#include "hook/environment.h"
#include "hook/host_path_check.h"
#include "hook/json_input.h"
#include "hook/oci_config.h"
#include "hook/paths.h"
#include "hook/planner.h"
#include "hook/runtime_wrapper.h"

namespace pmi_shim::hook {
namespace {

constexpr char kUsage[] =
    "Usage: pmi-shim-hook runtime [--runtime PATH] [--config FILE] [--] RUNC-ARGS...\n"
    "\n"
    "An OCI runtime for Docker's daemon.json \"runtimes\". On 'create' (and 'run')\n"
    "of a container that asks for pmi-shim, adds the plan's mounts, relay hooks\n"
    "and env to the bundle's config.json; then runs the real runtime with\n"
    "RUNC-ARGS unchanged. Every other call goes straight to the runtime.\n"
    "\n"
    "Options:\n"
    "  --runtime PATH  the real runtime (default /usr/bin/runc)\n"
    "  --config FILE   admin config (default /etc/pmi-shim/hook.json)\n"
    "  --help          show this help\n";

struct RuntimeArgs {
  std::string runtime = kDefaultRuntime;
  std::string config_path = kDefaultAdminConfigPath;
  bool config_given = false;
  bool help = false;
  std::vector<std::string> runc_args;
};

// Our options come first; "--" or the first other word starts RUNC-ARGS.
absl::Status ParseArgs(const std::vector<std::string>& args, RuntimeArgs& out) {
  size_t i = 0;
  for (; i < args.size(); ++i) {
    const std::string& arg = args[i];
    if (arg == "--") {
      ++i;
      break;
    }
    std::string* target = nullptr;
    std::string name;
    if (absl::StartsWith(arg, "--runtime")) {
      target = &out.runtime;
      name = "--runtime";
    } else if (absl::StartsWith(arg, "--config")) {
      target = &out.config_path;
      name = "--config";
    } else if (arg == "--help" || arg == "-h") {
      out.help = true;
      continue;
    }
    if (target == nullptr) break;
    if (arg == name) {
      if (i + 1 >= args.size()) return absl::InvalidArgumentError(name + " needs a value");
      *target = args[++i];
    } else if (absl::StartsWith(arg, name + "=")) {
      *target = arg.substr(name.size() + 1);
    } else {
      break;  // e.g. --root-something: runc's, not ours
    }
    if (name == "--config") out.config_given = true;
  }
  out.runc_args.assign(args.begin() + static_cast<std::ptrdiff_t>(i), args.end());
  if (!out.help && out.runc_args.empty()) return absl::InvalidArgumentError("missing RUNC-ARGS");
  if (!absl::StartsWith(out.runtime, "/")) {
    return absl::InvalidArgumentError("--runtime needs an absolute path");
  }
  return absl::OkStatus();
}

absl::Status EditBundle(const RuntimeArgs& args, const RuntimeCall& call) {
  const std::string bundle =
      NormalizePath(SelfWorkingDirectory(), call.bundle.empty() ? "." : call.bundle);
  const std::string config_path = bundle + "/config.json";
  ASSIGN_OR_RETURN(std::string text, ReadBoundedFile(config_path));
  ASSIGN_OR_RETURN(nlohmann::json raw, ParseJsonObject(text, config_path));
  ASSIGN_OR_RETURN(ContainerConfig config, ConfigFromJson(raw, config_path, bundle));
  ASSIGN_OR_RETURN(AdminConfig admin, LoadAdminConfig(args.config_path, args.config_given));
  const Decision decision = Decide(config, admin.gating);
  if (!decision.asked) return absl::OkStatus();
  if (!admin.log_file.empty()) RETURN_IF_ERROR(log::SetJsonFile(admin.log_file));
  OciState state;
  state.id = call.container_id.empty() ? bundle.substr(bundle.rfind('/') + 1) : call.container_id;
  state.bundle = bundle;
  // runc, not our applier, makes these mounts: check the host paths here.
  ASSIGN_OR_RETURN(Plan plan,
                   BuildPlan(state, config, admin, {ResolveToolsDir(admin), CheckHostPathOnDisk}));
  ConfigEdit edit =
      EditConfigForPlan(raw, plan,
                        {SelfExecutable(), NormalizePath(SelfWorkingDirectory(), args.config_path),
                         admin.entrypoint_prefix});
  if (edit.changes.empty()) return absl::OkStatus();
  RETURN_IF_ERROR(ReplaceFileAtomically(config_path, edit.config.dump(2) + "\n"));
  log::Info(absl::StrCat("container ", state.id, ": ", decision.why));
  for (const std::string& change : edit.changes) {
    log::Info(absl::StrCat("container ", state.id, ": ", change));
  }
  return absl::OkStatus();
}

// containerd reads a failed runtime's error from runc's --log file (JSON
// lines with "msg"), so Docker users see ours there too.
void AppendRuntimeLog(const RuntimeCall& call, const std::string& message) {
  if (call.log_path.empty() || call.log_format != "json") return;
  UniqueFd fd(::open(call.log_path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600));
  if (!fd.valid()) return;
  const std::string line =
      nlohmann::json{
          {"level", "error"},
          {"msg", message},
          {"time", absl::FormatTime(absl::RFC3339_full, absl::Now(), absl::UTCTimeZone())}}
          .dump() +
      "\n";
  (void)!::write(fd.get(), line.data(), line.size());
}

int ExecRuntime(const RuntimeArgs& args, char** environment) {
  std::vector<char*> argv;
  argv.push_back(const_cast<char*>(args.runtime.c_str()));
  for (const std::string& arg : args.runc_args) argv.push_back(const_cast<char*>(arg.c_str()));
  argv.push_back(nullptr);
  ::execve(args.runtime.c_str(), argv.data(), environment);
  log::Error(absl::StrCat("runtime: cannot execute ", args.runtime, ": ", std::strerror(errno),
                          "; pass the real runtime with --runtime PATH"));
  return 127;
}

}  // namespace

int RunRuntimeCommand(const std::vector<std::string>& args, char** environment) {
  RuntimeArgs parsed;
  if (absl::Status status = ParseArgs(args, parsed); !status.ok()) {
    log::Error(absl::StrCat("runtime: ", status.message(), "; run 'pmi-shim-hook runtime --help'"));
    return 2;
  }
  if (parsed.help) {
    std::cout << kUsage;
    return 0;
  }
  const RuntimeCall call = ParseRuntimeArgs(parsed.runc_args);
  if (CreatesContainer(call)) {
    if (absl::Status edited = EditBundle(parsed, call); !edited.ok()) {
      const std::string message =
          absl::StrCat("container ", call.container_id, ": ", edited.message());
      log::Error(message);
      AppendRuntimeLog(call, absl::StrCat(log::ProgramName(), ": ", message));
      return 1;
    }
  }
  return ExecRuntime(parsed, environment);
}

}  // namespace pmi_shim::hook
