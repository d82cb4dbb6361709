// The planner: from a container's state and config.json plus the admin config,
// the exact list of mounts, relays and notes pmi-shim-hook would make (a Plan).
// Pure logic: host paths are checked lexically here (absolute, normalized,
// strictly under an allowed dir). Their type and owner (a directory owned by
// process.user.uid, not a symlink) are checked by whoever makes the mount on the
// path it actually opens: the applier in hook mode, or the optional
// `check_host_path` callback here in runtime mode, where runc mounts it.
#ifndef PMI_SHIM_HOOK_PLANNER_H_
#define PMI_SHIM_HOOK_PLANNER_H_

#include <sys/types.h>

#include <functional>
#include <string>

#include "absl/status/statusor.h"
#include "hook/admin_config.h"
#include "hook/oci_config.h"
#include "hook/plan.h"

namespace pmi_shim::hook {

// Checks a user-named host path (never the admin's tools dir) before use.
using HostPathCheck = std::function<absl::Status(const MountStep& step, uid_t owner)>;

struct PlanOptions {
  std::string tools_dir;          // "" = do not mount pmi-shim's programs
  HostPathCheck check_host_path;  // empty = lexical checks only
};

// An error when the container asks for something that must not be granted
// (PMI_SHIM_DIR outside the allowed dirs); softer problems become notes.
absl::StatusOr<Plan> BuildPlan(const OciState& state, const ContainerConfig& config,
                               const AdminConfig& admin, const PlanOptions& options);

// One loopback TCP endpoint parsed from a PMIx URI or PMI_PORT value;
// exposed for tests. `note` is set instead when it cannot be relayed.
struct Endpoint {
  std::string address;
  int port = 0;
  std::string note;
};
Endpoint ParsePmixUri(const std::string& name, const std::string& value);
Endpoint ParsePmiPort(const std::string& value);

}  // namespace pmi_shim::hook

#endif  // PMI_SHIM_HOOK_PLANNER_H_
