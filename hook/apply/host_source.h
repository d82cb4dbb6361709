// Checking a host path before it is carried into a container.
//
// The planner already checked the path lexically against the administrator's
// allowed directories; at apply time the real file must also be what the plan
// says: no symlink anywhere in the path (a link could leave the allowed
// directory), the expected type, and owned by the container's user (or by
// root, i.e. the administrator). The returned O_PATH fd is what gets mounted,
// so the checked file and the mounted file are the same inode.
#ifndef PMI_SHIM_HOOK_APPLY_HOST_SOURCE_H_
#define PMI_SHIM_HOOK_APPLY_HOST_SOURCE_H_

#include <sys/types.h>

#include <string>

#include "absl/status/statusor.h"
#include "common/unique_fd.h"
#include "hook/plan.h"

namespace pmi_shim::hook {

// FailedPrecondition with a one-line reason when the path is a symlink (or
// passes through one), has the wrong type, or is owned by another user;
// NotFound when it does not exist.
absl::StatusOr<UniqueFd> OpenHostSource(const std::string& source, MountStep::Kind kind,
                                        uid_t container_uid);

}  // namespace pmi_shim::hook

#endif  // PMI_SHIM_HOOK_APPLY_HOST_SOURCE_H_
