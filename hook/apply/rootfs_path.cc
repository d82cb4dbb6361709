#include "hook/apply/rootfs_path.h"

#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/status_macros.h"

namespace pmi_shim::hook {
namespace {

// The only way this file looks a name up: inside `root_fd`, refusing every
// symlink (ELOOP) and /proc magic link on the way, the last one included.
int OpenInRoot(int root_fd, const std::string& relative, uint64_t flags) {
  open_how how{};
  // No O_NOFOLLOW: with O_PATH it would hand back a trailing link itself
  // instead of the ELOOP that RESOLVE_NO_SYMLINKS gives for it.
  how.flags = flags | O_CLOEXEC;
  how.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS;
  const int fd =
      static_cast<int>(::syscall(SYS_openat2, root_fd, relative.c_str(), &how, sizeof(how)));
  struct stat st {};
  if (fd >= 0 && ::fstat(fd, &st) == 0 && S_ISLNK(st.st_mode)) {
    ::close(fd);
    errno = ELOOP;
    return -1;
  }
  return fd;
}

std::string Join(const std::vector<std::string>& parts, size_t count) {
  std::string path;
  for (size_t i = 0; i < count; ++i) absl::StrAppend(&path, "/", parts[i]);
  return path;
}

absl::Status LookupError(int error, const std::string& path) {
  if (error == ELOOP) {
    return absl::FailedPreconditionError(absl::StrCat(
        path,
        " in the image is a symlink; refusing to mount through it (pmi-shim never follows "
        "links the image controls): remove the link from the image"));
  }
  if (error == ENOTDIR) {
    return absl::FailedPreconditionError(
        absl::StrCat(path, " in the image is not a directory; remove it from the image"));
  }
  return absl::ErrnoToStatus(error, absl::StrCat("cannot open ", path, " in the rootfs"));
}

absl::Status CheckKind(int fd, const std::string& path, MountStep::Kind kind) {
  struct stat st {};
  if (::fstat(fd, &st) != 0) return absl::ErrnoToStatus(errno, absl::StrCat("fstat ", path));
  const bool ok = kind == MountStep::Kind::kDirectory ? S_ISDIR(st.st_mode)
                  : kind == MountStep::Kind::kSocket ? (S_ISREG(st.st_mode) || S_ISSOCK(st.st_mode))
                                                     : S_ISREG(st.st_mode);
  if (ok) return absl::OkStatus();
  return absl::FailedPreconditionError(absl::StrCat(
      path, " in the image is ", S_ISDIR(st.st_mode) ? "a directory" : "not a directory",
      ", but a ", kind == MountStep::Kind::kDirectory ? "directory" : "file",
      " is to be mounted there; remove it from the image"));
}

}  // namespace

absl::Status ValidateContainerPath(const std::string& path) {
  if (path.empty() || path[0] != '/') {
    return absl::InvalidArgumentError(
        absl::StrCat("container path \"", path, "\" is not absolute"));
  }
  if (path.find('\0') != std::string::npos || path.find('\n') != std::string::npos) {
    return absl::InvalidArgumentError("container path holds a NUL or newline");
  }
  bool any = false;
  for (absl::string_view part : absl::StrSplit(path, '/', absl::SkipEmpty())) {
    if (part == "." || part == "..") {
      return absl::InvalidArgumentError(
          absl::StrCat("container path ", path, " holds a \".\" or \"..\" component"));
    }
    any = true;
  }
  if (!any) return absl::InvalidArgumentError("container path \"/\" cannot be a mount target");
  return absl::OkStatus();
}

absl::StatusOr<ResolvedTarget> ResolveOrCreateTarget(int root_fd, const std::string& target,
                                                     MountStep::Kind kind,
                                                     const OnCreated& on_created) {
  RETURN_IF_ERROR(ValidateContainerPath(target));
  const std::vector<std::string> parts = absl::StrSplit(target, '/', absl::SkipEmpty());
  ResolvedTarget result;
  // Undo what this call made if a later component fails.
  auto fail = [&](absl::Status status) -> absl::Status {
    (void)RemoveCreatedPaths(root_fd, result.created);
    return status;
  };
  UniqueFd parent(::fcntl(root_fd, F_DUPFD_CLOEXEC, 0));
  if (!parent.valid()) return absl::ErrnoToStatus(errno, "dup rootfs fd");
  for (size_t i = 0; i < parts.size(); ++i) {
    const bool last = i + 1 == parts.size();
    const bool want_file = last && kind != MountStep::Kind::kDirectory;
    const std::string path = Join(parts, i + 1);
    const std::string relative = path.substr(1);
    UniqueFd fd(OpenInRoot(root_fd, relative, O_PATH));
    if (!fd.valid() && errno == ENOENT) {
      int made = 0;
      if (want_file) {
        made = ::openat(parent.get(), parts[i].c_str(),
                        O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC | O_NOFOLLOW, 0644);
        if (made >= 0) ::close(made);
      } else {
        made = ::mkdirat(parent.get(), parts[i].c_str(), 0755);
      }
      if (made < 0 && errno != EEXIST) {
        return fail(
            absl::ErrnoToStatus(errno, absl::StrCat("cannot create ", path, " in the rootfs")));
      }
      if (made >= 0) {
        result.created.push_back(path);
        if (on_created) on_created(path);
      }
      fd.Reset(OpenInRoot(root_fd, relative, O_PATH));
    }
    if (!fd.valid()) return fail(LookupError(errno, path));
    if (!last) {
      struct stat st {};
      if (::fstat(fd.get(), &st) != 0 || !S_ISDIR(st.st_mode))
        return fail(LookupError(ENOTDIR, path));
    } else if (absl::Status kind_ok = CheckKind(fd.get(), path, kind); !kind_ok.ok()) {
      return fail(kind_ok);
    }
    parent = std::move(fd);
  }
  result.fd = std::move(parent);
  return result;
}

absl::StatusOr<UniqueFd> OpenExistingTarget(int root_fd, const std::string& target) {
  RETURN_IF_ERROR(ValidateContainerPath(target));
  UniqueFd fd(OpenInRoot(root_fd, target.substr(1), O_PATH));
  if (!fd.valid()) return LookupError(errno, target);
  return fd;
}

absl::Status RemoveCreatedPaths(int root_fd, const std::vector<std::string>& created) {
  absl::Status first;
  for (auto it = created.rbegin(); it != created.rend(); ++it) {
    const std::string& path = *it;
    if (!ValidateContainerPath(path).ok()) continue;  // never from us: ignore
    const size_t slash = path.rfind('/');
    const std::string dir = path.substr(1, slash == 0 ? 0 : slash - 1);
    const std::string name = path.substr(slash + 1);
    UniqueFd parent(OpenInRoot(root_fd, dir.empty() ? "." : dir, O_PATH | O_DIRECTORY));
    if (!parent.valid()) {
      if (errno != ENOENT && first.ok()) first = LookupError(errno, path.substr(0, slash));
      continue;
    }
    struct stat st {};
    if (::fstatat(parent.get(), name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) continue;  // gone
    int rc = 0;
    if (S_ISDIR(st.st_mode)) {
      rc = ::unlinkat(parent.get(), name.c_str(), AT_REMOVEDIR);
    } else if (S_ISREG(st.st_mode) && st.st_size == 0) {
      rc = ::unlinkat(parent.get(), name.c_str(), 0);
    } else {
      rc = -1;
      errno = ENOTEMPTY;
    }
    if (rc != 0 && errno != ENOENT && first.ok()) {
      first = absl::ErrnoToStatus(
          errno, absl::StrCat("left ", path, " in the rootfs (made by pmi-shim-hook, now in use)"));
    }
  }
  return first;
}

}  // namespace pmi_shim::hook
