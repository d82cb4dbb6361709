// Binding a checked host file into a starting container's mount namespace,
// and taking it out again.
//
// The hook runs in the host's mount namespace at createRuntime, after the
// container's namespaces exist and before its pivot_root, so the rootfs path
// is the same string on both sides. The work happens in a forked,
// single-threaded child (setns(CLONE_NEWNS) needs one):
//
//   host ns:       open_tree(source fd, OPEN_TREE_CLONE)    detached copy of the source
//                  mount_setattr(nosuid, nodev[, ro])        flags set before anyone sees it
//   container ns:  setns(/proc/PID/ns/mnt)
//                  resolve/create the target in the rootfs (rootfs_path.h)
//                  move_mount(tree → target fd)
//
// No host path is looked up inside the container and no path is looked up
// twice. Without open_tree (ENOSYS: an older kernel) the child falls back to
// mount(2) by path, checking that the path still names the checked inode.
// The child reports each created path, then "ok" or a one-line error, over a
// pipe; the parent never changes namespace.
#ifndef PMI_SHIM_HOOK_APPLY_MOUNT_NAMESPACE_H_
#define PMI_SHIM_HOOK_APPLY_MOUNT_NAMESPACE_H_

#include <sys/types.h>

#include <functional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "hook/plan.h"

namespace pmi_shim::hook {

struct BindRequest {
  int source_fd = -1;  // O_PATH, from OpenHostSource (stays the caller's)
  std::string source;  // for messages and the mount(2) fallback
  std::string rootfs;  // absolute host path of the container's rootfs
  std::string target;  // inside the container
  MountStep::Kind kind = MountStep::Kind::kDirectory;
  bool read_only = true;
};

// Binds `request` into the mount namespace of `pid`. `on_created` sees each
// container path made for the target, as soon as the parent hears of it.
// On failure the child has already removed what it created.
absl::Status BindIntoContainer(pid_t pid, const BindRequest& request,
                               const std::function<void(const std::string&)>& on_created);

// The undo, in the namespace of `pid`: unmounts `target` when `mounted`,
// then removes `created` (see RemoveCreatedPaths).
absl::Status UnbindInContainer(pid_t pid, const std::string& rootfs, const std::string& target,
                               bool mounted, const std::vector<std::string>& created);

}  // namespace pmi_shim::hook

#endif  // PMI_SHIM_HOOK_APPLY_MOUNT_NAMESPACE_H_
