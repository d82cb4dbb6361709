// The on-disk check of a user-named host path, for the runtime wrapper (where
// runc, not our applier, makes the mount): the path must resolve to itself
// (no symlink anywhere in it), be a directory, and belong to the container's
// user. A race between this check and runc's mount remains: the paths are
// under admin-allowed dirs, and the hook mode (fd-based mounts) has none.
#ifndef PMI_SHIM_HOOK_HOST_PATH_CHECK_H_
#define PMI_SHIM_HOOK_HOST_PATH_CHECK_H_

#include <sys/types.h>

#include "absl/status/status.h"
#include "hook/plan.h"

namespace pmi_shim::hook {

absl::Status CheckHostPathOnDisk(const MountStep& step, uid_t owner);

}  // namespace pmi_shim::hook

#endif  // PMI_SHIM_HOOK_HOST_PATH_CHECK_H_
