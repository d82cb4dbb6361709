#include "hook/host_path_check.h"

#include <sys/stat.h>

#include <cerrno>
#include <climits>
#include <cstdlib>
#include <memory>

#include "absl/strings/str_cat.h"

namespace pmi_shim::hook {

absl::Status CheckHostPathOnDisk(const MountStep& step, uid_t owner) {
  std::unique_ptr<char, decltype(&free)> resolved(realpath(step.source.c_str(), nullptr), &free);
  if (resolved == nullptr) return absl::ErrnoToStatus(errno, "cannot resolve it on the host");
  if (step.source != resolved.get()) {
    return absl::PermissionDeniedError(absl::StrCat("goes through a symbolic link (resolves to ",
                                                    resolved.get(), "); name the real directory"));
  }
  struct stat info {};
  if (::lstat(step.source.c_str(), &info) != 0) return absl::ErrnoToStatus(errno, "cannot stat it");
  if (!S_ISDIR(info.st_mode)) return absl::PermissionDeniedError("is not a directory");
  if (info.st_uid != owner) {
    return absl::PermissionDeniedError(absl::StrCat(
        "is owned by uid ", info.st_uid, ", not by the container's user (uid ", owner, ")"));
  }
  return absl::OkStatus();
}

}  // namespace pmi_shim::hook
