// Podman and Docker: the pmi-shim OCI hook (Podman hooks.d) or runtime
// wrapper (Docker) mounts the rank directory and pmi-shim's tools; the
// command line only has to carry PMI_SHIM_DIR into the container's
// config.json, which is also what tells the hook to act.
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "bridge/engines/engine_command.h"
#include "bridge/engines/option_scanner.h"
#include "bridge/engines/rewriters.h"
#include "common/status_macros.h"

namespace pmi_shim::engines::internal {
namespace {

using A = OptionArg;

const std::vector<OptionSpec>& DockerGlobalOptions() {
  static const auto* table = new std::vector<OptionSpec>{
      {"config", 0, A::kRequired},    {"context", 'c', A::kRequired},
      {"host", 'H', A::kRequired},    {"log-level", 'l', A::kRequired},
      {"tlscacert", 0, A::kRequired}, {"tlscert", 0, A::kRequired},
      {"tlskey", 0, A::kRequired},    {"debug", 'D', A::kNone},
      {"tls", 0, A::kNone},           {"tlsverify", 0, A::kNone},
      {"version", 'v', A::kNone},     {"help", 0, A::kNone},
  };
  return *table;
}

const std::vector<OptionSpec>& PodmanGlobalOptions() {
  static const auto* table = new std::vector<OptionSpec>{
      {"cgroup-manager", 0, A::kRequired},
      {"conmon", 0, A::kRequired},
      {"connection", 'c', A::kRequired},
      {"events-backend", 0, A::kRequired},
      {"hooks-dir", 0, A::kRequired},
      {"identity", 0, A::kRequired},
      {"imagestore", 0, A::kRequired},
      {"log-level", 0, A::kRequired},
      {"module", 0, A::kRequired},
      {"network-cmd-path", 0, A::kRequired},
      {"network-config-dir", 0, A::kRequired},
      {"out", 0, A::kRequired},
      {"root", 0, A::kRequired},
      {"runroot", 0, A::kRequired},
      {"runtime", 0, A::kRequired},
      {"runtime-flag", 0, A::kRequired},
      {"ssh", 0, A::kRequired},
      {"storage-driver", 0, A::kRequired},
      {"storage-opt", 0, A::kRequired},
      {"tmpdir", 0, A::kRequired},
      {"url", 0, A::kRequired},
      {"volumepath", 0, A::kRequired},
      {"cpu-profile", 0, A::kRequired},
      {"memory-profile", 0, A::kRequired},
      {"registries-conf", 0, A::kRequired},
      {"remote", 'r', A::kNone},
      {"syslog", 0, A::kNone},
      {"noout", 0, A::kNone},
      {"transient-store", 0, A::kNone},
      {"trace", 0, A::kNone},
      {"version", 'v', A::kNone},
      {"help", 'h', A::kNone},
  };
  return *table;
}

}  // namespace

absl::StatusOr<Rewrite> RewriteOciCli(Engine engine, const std::vector<std::string>& argv,
                                      const EngineContext& context) {
  const std::string program(EngineName(engine));
  const std::vector<OptionSpec>& table =
      engine == Engine::kDocker ? DockerGlobalOptions() : PodmanGlobalOptions();
  std::vector<ScannedOption> global;
  size_t i = 1;
  while (i < argv.size() && absl::StartsWith(argv[i], "-") && argv[i] != "-" && argv[i] != "--") {
    RETURN_IF_ERROR(ScanOption(table, program, argv, &i, &global));
  }
  if (i < argv.size() && argv[i] == "container") ++i;
  if (i >= argv.size() || argv[i] != "run") {
    Rewrite unchanged{Engine::kNone, argv, {}};
    if (i < argv.size()) {
      unchanged.notes.push_back(
          absl::StrCat(program, " ", argv[i], " is left as is: only run starts a rank's program"));
    }
    return unchanged;
  }
  Rewrite rewrite;
  rewrite.engine = engine;
  rewrite.argv.assign(argv.begin(), argv.begin() + i + 1);
  for (const auto& [key, value] : context.env) {
    rewrite.argv.insert(rewrite.argv.end(), {"--env", absl::StrCat(key, "=", value)});
  }
  rewrite.argv.insert(rewrite.argv.end(), argv.begin() + i + 1, argv.end());
  rewrite.notes.push_back(
      absl::StrCat(program, ": PMI_SHIM_DIR in the container's environment asks the pmi-shim ",
                   engine == Engine::kDocker ? "runtime wrapper" : "hook",
                   " to mount the rank directory at /run/pmi-shim and the tools at /opt/pmi-shim"));
  return rewrite;
}

}  // namespace pmi_shim::engines::internal
