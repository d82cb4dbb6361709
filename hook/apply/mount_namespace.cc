#include "hook/apply/mount_namespace.h"

#include <fcntl.h>
#include <linux/openat2.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/strip.h"
#include "common/status_macros.h"
#include "common/unique_fd.h"
#include "hook/apply/rootfs_path.h"

namespace pmi_shim::hook {
namespace {

// One line to the parent in a single write (the pipe is the child's only voice).
void Say(int fd, const std::string& line) {
  std::string text = absl::StrReplaceAll(line, {{"\n", " "}}) + "\n";
  const char* data = text.data();
  size_t left = text.size();
  while (left > 0) {
    ssize_t n = ::write(fd, data, left);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;
    data += n;
    left -= static_cast<size_t>(n);
  }
}

std::string FdPath(int fd) { return absl::StrCat("/proc/self/fd/", fd); }

absl::Status EnterMountNamespace(int mntns_fd, const std::string& rootfs, UniqueFd* root) {
  if (::setns(mntns_fd, CLONE_NEWNS) != 0) {
    return absl::ErrnoToStatus(errno, "cannot enter the container's mount namespace");
  }
  root->Reset(::open(rootfs.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
  if (!root->valid()) {
    return absl::ErrnoToStatus(errno, absl::StrCat("cannot open the rootfs ", rootfs,
                                                   " in the container's mount namespace"));
  }
  return absl::OkStatus();
}

// mount(2) by path for kernels without open_tree: the source path is looked
// up again inside the container's namespace (a copy of the host's before
// pivot_root) and must still be the inode that was checked.
absl::Status BindByPath(const BindRequest& request, int root_fd, int target_fd) {
  open_how how{};
  how.flags = O_PATH | O_CLOEXEC;
  how.resolve = RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS;
  UniqueFd again(static_cast<int>(
      ::syscall(SYS_openat2, AT_FDCWD, request.source.c_str(), &how, sizeof(how))));
  struct stat checked {
  }, seen{};
  if (!again.valid() || ::fstat(request.source_fd, &checked) != 0 ||
      ::fstat(again.get(), &seen) != 0 || checked.st_dev != seen.st_dev ||
      checked.st_ino != seen.st_ino) {
    return absl::FailedPreconditionError(
        absl::StrCat("host path ", request.source, " changed while it was being mounted"));
  }
  if (::mount(FdPath(again.get()).c_str(), FdPath(target_fd).c_str(), nullptr, MS_BIND, nullptr) !=
      0) {
    return absl::ErrnoToStatus(errno,
                               absl::StrCat("bind ", request.source, " on ", request.target));
  }
  // The fd still names the covered inode: look the new mount up again.
  absl::StatusOr<UniqueFd> mounted = OpenExistingTarget(root_fd, request.target);
  unsigned long flags =
      MS_BIND | MS_REMOUNT | MS_NOSUID | MS_NODEV | (request.read_only ? MS_RDONLY : 0);
  if (!mounted.ok() ||
      ::mount(nullptr, FdPath(mounted->get()).c_str(), nullptr, flags, nullptr) != 0) {
    const int error = errno;
    if (mounted.ok()) ::umount2(FdPath(mounted->get()).c_str(), MNT_DETACH);
    return mounted.ok() ? absl::ErrnoToStatus(error, absl::StrCat("remount ", request.target))
                        : mounted.status();
  }
  return absl::OkStatus();
}

absl::Status BindInChild(const BindRequest& request, int mntns_fd, int report_fd) {
  // The detached copy is made while the host's paths are still visible.
  UniqueFd tree(static_cast<int>(::syscall(SYS_open_tree, request.source_fd, "",
                                           OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_EMPTY_PATH)));
  const bool have_new_api = tree.valid() || errno != ENOSYS;
  if (!tree.valid() && have_new_api) {
    return absl::ErrnoToStatus(errno, absl::StrCat("open_tree ", request.source));
  }
  if (tree.valid()) {
    mount_attr attr{};
    attr.attr_set =
        MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | (request.read_only ? MOUNT_ATTR_RDONLY : 0);
    attr.propagation = MS_PRIVATE;
    if (::syscall(SYS_mount_setattr, tree.get(), "", AT_EMPTY_PATH, &attr, sizeof(attr)) != 0) {
      return absl::ErrnoToStatus(errno, absl::StrCat("mount_setattr on ", request.source));
    }
  }
  UniqueFd root;
  RETURN_IF_ERROR(EnterMountNamespace(mntns_fd, request.rootfs, &root));
  ASSIGN_OR_RETURN(
      ResolvedTarget target,
      ResolveOrCreateTarget(root.get(), request.target, request.kind, [&](const std::string& path) {
        Say(report_fd, absl::StrCat("created ", path));
      }));
  absl::Status mounted;
  if (tree.valid()) {
    if (::syscall(SYS_move_mount, tree.get(), "", target.fd.get(), "",
                  MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH) != 0) {
      mounted = absl::ErrnoToStatus(
          errno, absl::StrCat("move_mount ", request.source, " onto ", request.target));
    }
  } else {
    mounted = BindByPath(request, root.get(), target.fd.get());
  }
  if (!mounted.ok()) (void)RemoveCreatedPaths(root.get(), target.created);
  return mounted;
}

// Runs `body` in a forked child that reports over a pipe; returns its verdict.
absl::Status RunChild(pid_t pid,
                      const std::function<absl::Status(int mntns_fd, int report_fd)>& body,
                      const std::function<void(const std::string&)>& on_created) {
  UniqueFd mntns(::open(absl::StrCat("/proc/", pid, "/ns/mnt").c_str(), O_RDONLY | O_CLOEXEC));
  if (!mntns.valid()) {
    return absl::ErrnoToStatus(errno, absl::StrCat("cannot open the mount namespace of pid ", pid));
  }
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) return absl::ErrnoToStatus(errno, "pipe");
  UniqueFd read_end(fds[0]), write_end(fds[1]);
  const pid_t child = ::fork();
  if (child < 0) return absl::ErrnoToStatus(errno, "fork");
  if (child == 0) {
    read_end.Reset();
    absl::Status status = body(mntns.get(), write_end.get());
    Say(write_end.get(),
        status.ok() ? std::string("ok") : absl::StrCat("error ", status.message()));
    ::_exit(status.ok() ? 0 : 1);
  }
  write_end.Reset();
  std::string buffer, verdict;
  char chunk[4096];
  while (true) {
    ssize_t n = ::read(read_end.get(), chunk, sizeof(chunk));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    buffer.append(chunk, static_cast<size_t>(n));
    size_t newline;
    while ((newline = buffer.find('\n')) != std::string::npos) {
      absl::string_view line(buffer.data(), newline);
      if (absl::ConsumePrefix(&line, "created ")) {
        if (on_created) on_created(std::string(line));
      } else {
        verdict = std::string(line);
      }
      buffer.erase(0, newline + 1);
    }
  }
  int wstatus = 0;
  while (::waitpid(child, &wstatus, 0) < 0 && errno == EINTR) {
  }
  if (verdict == "ok" && WIFEXITED(wstatus) && WEXITSTATUS(wstatus) == 0) return absl::OkStatus();
  absl::string_view message = verdict;
  if (absl::ConsumePrefix(&message, "error ")) return absl::FailedPreconditionError(message);
  return absl::InternalError(absl::StrCat("the mount helper for pid ", pid,
                                          " died without a verdict (status ", wstatus, ")"));
}

}  // namespace

absl::Status BindIntoContainer(pid_t pid, const BindRequest& request,
                               const std::function<void(const std::string&)>& on_created) {
  return RunChild(
      pid, [&](int mntns_fd, int report_fd) { return BindInChild(request, mntns_fd, report_fd); },
      on_created);
}

absl::Status UnbindInContainer(pid_t pid, const std::string& rootfs, const std::string& target,
                               bool mounted, const std::vector<std::string>& created) {
  return RunChild(
      pid,
      [&](int mntns_fd, int) -> absl::Status {
        UniqueFd root;
        RETURN_IF_ERROR(EnterMountNamespace(mntns_fd, rootfs, &root));
        if (mounted) {
          ASSIGN_OR_RETURN(UniqueFd fd, OpenExistingTarget(root.get(), target));
          if (::umount2(FdPath(fd.get()).c_str(), MNT_DETACH) != 0 && errno != EINVAL) {
            return absl::ErrnoToStatus(errno, absl::StrCat("umount ", target));
          }
        }
        return RemoveCreatedPaths(root.get(), created);
      },
      nullptr);
}

}  // namespace pmi_shim::hook
