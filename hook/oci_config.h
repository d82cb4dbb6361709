// The two OCI inputs a hook gets: the container state (JSON on stdin) and the
// bundle's config.json. Only the fields pmi-shim decides from are kept; a
// missing optional field is fine, a present field of the wrong type is an
// error naming the file and the field.
#ifndef PMI_SHIM_HOOK_OCI_CONFIG_H_
#define PMI_SHIM_HOOK_OCI_CONFIG_H_

#include <sys/types.h>

#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace pmi_shim::hook {

struct OciState {
  std::string oci_version;
  std::string id;
  std::string status;
  pid_t pid = 0;       // 0 when absent (a stopped container at poststop)
  std::string bundle;  // absolute
  std::map<std::string, std::string> annotations;
};

struct OciMount {
  std::string destination;
  std::string source;
  std::string type;
};

struct ContainerConfig {
  std::vector<std::string> env;   // process.env, "KEY=VALUE" in order
  std::vector<std::string> args;  // process.args
  uid_t uid = 0;                  // process.user
  gid_t gid = 0;
  std::string rootfs;  // root.path made absolute against the bundle
  std::map<std::string, std::string> annotations;
  bool network_namespace = false;      // linux.namespaces holds a "network" entry
  std::string network_namespace_path;  // its "path", "" = a new namespace
  std::vector<OciMount> mounts;
};

// `origin` names the input in errors (e.g. "state on stdin").
absl::StatusOr<OciState> ParseState(absl::string_view text, absl::string_view origin);

// `bundle` (absolute) anchors a relative root.path.
absl::StatusOr<ContainerConfig> ParseConfig(absl::string_view text, absl::string_view origin,
                                            const std::string& bundle);
absl::StatusOr<ContainerConfig> ConfigFromJson(const nlohmann::json& config,
                                               absl::string_view origin, const std::string& bundle);

// The value of the first `key`=... in `env`; `found` (optional) tells an
// empty value from an absent one.
std::string EnvValue(const std::vector<std::string>& env, absl::string_view key,
                     bool* found = nullptr);

}  // namespace pmi_shim::hook

#endif  // PMI_SHIM_HOOK_OCI_CONFIG_H_
