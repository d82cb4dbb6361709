// Resolving (and creating) a mount target inside a container's rootfs
// without ever following a link the image controls.
//
// The image owns every name under the rootfs: a `run -> /etc` symlink would
// turn "/run/pmi-shim" into a bind over the host's /etc if the path were
// resolved the usual way. Every component is therefore looked up with
// openat2(RESOLVE_IN_ROOT | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS), and
// a link anywhere in the path is refused. Missing components are created one
// by one and listed, so an undo removes exactly what was made.
//
//   ASSIGN_OR_RETURN(ResolvedTarget t,
//                    ResolveOrCreateTarget(rootfs_fd, "/run/pmi-shim", Kind::kDirectory, nullptr));
//   ... move_mount onto t.fd ...
//   RemoveCreatedPaths(rootfs_fd, t.created);  // the undo
#ifndef PMI_SHIM_HOOK_APPLY_ROOTFS_PATH_H_
#define PMI_SHIM_HOOK_APPLY_ROOTFS_PATH_H_

#include <functional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "common/unique_fd.h"
#include "hook/plan.h"

namespace pmi_shim::hook {

// A path inside the container must be absolute, hold no "." or ".."
// component, no NUL or newline, and not be "/" itself. InvalidArgument names it.
absl::Status ValidateContainerPath(const std::string& path);

struct ResolvedTarget {
  UniqueFd fd;  // O_PATH, the target itself (a directory or a file)
  // Container paths this call created, parents before children.
  std::vector<std::string> created;
};

// Called with each container path right after this call created it (not
// when it already existed), so the caller can record it at once.
using OnCreated = std::function<void(const std::string& container_path)>;

// Opens `target` under `root_fd` (the rootfs directory), creating missing
// directories and, for kFile/kSocket, an empty regular file as the last
// component (a socket can be bound over a file). An existing last component
// of the wrong type (a directory for a file, or the reverse) is refused.
// Errors: FailedPrecondition "PATH in the image is a symlink: ..." for a link
// anywhere; on any error the paths this call created are removed again.
absl::StatusOr<ResolvedTarget> ResolveOrCreateTarget(int root_fd, const std::string& target,
                                                     MountStep::Kind kind,
                                                     const OnCreated& on_created);

// Opens an existing `target` under `root_fd` (O_PATH), refusing links the
// same way; creates nothing.
absl::StatusOr<UniqueFd> OpenExistingTarget(int root_fd, const std::string& target);

// Removes `created` (as returned above) deepest first: only empty
// directories and empty regular files, resolved again without following
// links. Paths already gone are fine. Returns the first problem, after
// trying them all.
absl::Status RemoveCreatedPaths(int root_fd, const std::vector<std::string>& created);

}  // namespace pmi_shim::hook

#endif  // PMI_SHIM_HOOK_APPLY_ROOTFS_PATH_H_
