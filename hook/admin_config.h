// The administrator's settings for pmi-shim-hook: a JSON file (default
// /etc/pmi-shim/hook.json). A missing default file means all defaults; an
// unknown key is an error, so a typo never silently weakens a policy.
//
//   {
//     "allowed_dirs": ["/run/pmi-shim", "/tmp"],   host dirs whose children may be mounted
//     "gating": {"annotation": true, "env": true, "auto": true},
//     "log_file": "/var/log/pmi-shim-hook.log",   JSON lines; "" = none
//     "tools_dir": "/opt/pmi-shim",               mounted read-only at /opt/pmi-shim;
//                                                 absent = the hook's install prefix, "" = none
//     "state_dir": "/run/pmi-shim-hook",          applied-records for poststop
//     "entrypoint_prefix": false                  runtime mode: run the app under
//                                                 pmi-shim-client exec
//   }
#ifndef PMI_SHIM_HOOK_ADMIN_CONFIG_H_
#define PMI_SHIM_HOOK_ADMIN_CONFIG_H_

#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace pmi_shim::hook {

inline constexpr char kDefaultAdminConfigPath[] = "/etc/pmi-shim/hook.json";

// Which requests in a container's config.json turn pmi-shim on.
struct Gating {
  bool annotation = true;   // annotation org.pmi-shim.enable=true
  bool env = true;          // PMI_SHIM=1 in process.env
  bool auto_detect = true;  // PMI_SHIM_DIR, PMIX_SERVER_URI*, PMI_PORT in process.env
};

struct AdminConfig {
  std::vector<std::string> allowed_dirs = {"/run/pmi-shim", "/tmp"};
  Gating gating;
  std::string log_file;
  std::optional<std::string> tools_dir;  // nullopt = the install prefix (ResolveToolsDir)
  std::string state_dir = "/run/pmi-shim-hook";
  bool entrypoint_prefix = false;
};

absl::StatusOr<AdminConfig> ParseAdminConfig(absl::string_view text, absl::string_view origin);

// Reads `path`. When it does not exist: defaults if `required` is false
// (the default path), an error if true (the user named it with --config).
absl::StatusOr<AdminConfig> LoadAdminConfig(const std::string& path, bool required);

// The install prefix of `exe` (dirname of its dirname) when it holds
// bin/pmi-shim-client and is not a system prefix ("/", "/usr", "/usr/local":
// mounting those whole would expose the host's programs), else "".
std::string ToolsDirFromExecutable(const std::string& exe);

// The tools dir to mount: the configured one, or derived from /proc/self/exe.
std::string ResolveToolsDir(const AdminConfig& config);

}  // namespace pmi_shim::hook

#endif  // PMI_SHIM_HOOK_ADMIN_CONFIG_H_
