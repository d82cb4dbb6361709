#include "hook/apply/host_source.h"

#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>

#include "absl/strings/str_cat.h"

namespace pmi_shim::hook {
namespace {

const char* KindName(MountStep::Kind kind) {
  switch (kind) {
    case MountStep::Kind::kDirectory:
      return "a directory";
    case MountStep::Kind::kSocket:
      return "a Unix socket";
    case MountStep::Kind::kFile:
      return "a regular file";
  }
  return "?";
}

const char* TypeName(mode_t mode) {
  if (S_ISDIR(mode)) return "a directory";
  if (S_ISSOCK(mode)) return "a Unix socket";
  if (S_ISREG(mode)) return "a regular file";
  if (S_ISLNK(mode)) return "a symlink";
  return "a special file";
}

}  // namespace

absl::StatusOr<UniqueFd> OpenHostSource(const std::string& source, MountStep::Kind kind,
                                        uid_t container_uid) {
  if (source.empty() || source[0] != '/') {
    return absl::InvalidArgumentError(absl::StrCat("host path \"", source, "\" is not absolute"));
  }
  open_how how{};
  how.flags = O_PATH | O_CLOEXEC;  // no O_NOFOLLOW: a trailing link must fail too
  how.resolve = RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS;
  UniqueFd fd(
      static_cast<int>(::syscall(SYS_openat2, AT_FDCWD, source.c_str(), &how, sizeof(how))));
  if (!fd.valid()) {
    if (errno == ELOOP) {
      return absl::FailedPreconditionError(
          absl::StrCat("host path ", source,
                       " is or passes through a symlink; refusing to mount it "
                       "(name the real path in the allowed directories)"));
    }
    if (errno == ENOENT) {
      return absl::NotFoundError(absl::StrCat("host path ", source, " does not exist"));
    }
    return absl::ErrnoToStatus(errno, absl::StrCat("cannot open host path ", source));
  }
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0)
    return absl::ErrnoToStatus(errno, absl::StrCat("fstat ", source));
  const bool type_ok = kind == MountStep::Kind::kDirectory ? S_ISDIR(st.st_mode)
                       : kind == MountStep::Kind::kSocket  ? S_ISSOCK(st.st_mode)
                                                           : S_ISREG(st.st_mode);
  if (!type_ok) {
    return absl::FailedPreconditionError(absl::StrCat("host path ", source, " is ",
                                                      TypeName(st.st_mode), ", expected ",
                                                      KindName(kind), "; refusing to mount it"));
  }
  if (st.st_uid != container_uid && st.st_uid != 0) {
    return absl::FailedPreconditionError(absl::StrCat(
        "host path ", source, " is owned by uid ", st.st_uid, ", not by the container's user (uid ",
        container_uid, ") or root; refusing to mount it"));
  }
  return fd;
}

}  // namespace pmi_shim::hook
