#include "bridge/exec/rank_directory.h"

#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/status_macros.h"

namespace pmi_shim::exec {
namespace {

struct linux_dirent64 {  // what getdents64(2) returns; glibc 2.36 has no wrapper
  ino64_t d_ino;
  off64_t d_off;
  unsigned short d_reclen;
  unsigned char d_type;
  char d_name[];
};

// How deep a rank directory's own subdirectories go (the PMIx v1.2
// endpoint's pmix-v1/dstore/ is the deepest).
constexpr int kMaxTreeDepth = 4;

// Removes a directory this module made, with what the bridge put in it
// (sockets, files and their subdirectories, never following a symlink).
void RemoveTree(const std::string& path, int depth = kMaxTreeDepth) {
  if (DIR* dir = ::opendir(path.c_str())) {
    while (dirent* entry = ::readdir(dir)) {
      const std::string name = entry->d_name;
      if (name == "." || name == "..") continue;
      const std::string child = absl::StrCat(path, "/", name);
      struct stat info {};
      if (depth > 0 && ::lstat(child.c_str(), &info) == 0 && S_ISDIR(info.st_mode)) {
        RemoveTree(child, depth - 1);
      } else {
        ::unlink(child.c_str());
      }
    }
    ::closedir(dir);
  }
  ::rmdir(path.c_str());
}

// Directories JOB.RANK.PID under `root`, owned by us, whose PID is gone.
void RemoveStaleSiblings(const std::string& root) {
  DIR* dir = ::opendir(root.c_str());
  if (dir == nullptr) return;
  while (dirent* entry = ::readdir(dir)) {
    const std::string name = entry->d_name;
    const size_t dot = name.rfind('.');
    int pid = 0;
    if (dot == std::string::npos || !absl::SimpleAtoi(name.substr(dot + 1), &pid) || pid <= 0) {
      continue;
    }
    const std::string path = absl::StrCat(root, "/", name);
    struct stat info {};
    if (::lstat(path.c_str(), &info) != 0 || !S_ISDIR(info.st_mode) || info.st_uid != ::getuid()) {
      continue;
    }
    if (::kill(pid, 0) != 0 && errno == ESRCH) RemoveTree(path);
  }
  ::closedir(dir);
}

// Removes `name` (relative to `parent`, a directory fd or AT_FDCWD) and
// what is under it, with system calls only (no allocation): it runs in a
// child forked from a possibly multi-threaded bridge (libpmix has a thread).
// Entries are read again until none is left, since removing while reading
// may skip some.
void RemoveTreeAfterFork(int parent, const char* name, int depth) {
  const int dir = static_cast<int>(
      ::syscall(SYS_openat, parent, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  if (dir >= 0) {
    alignas(8) char entries[4096];
    for (int pass = 0; pass < 64; ++pass) {
      bool removed_any = false;
      long length;
      while ((length = ::syscall(SYS_getdents64, dir, entries, sizeof(entries))) > 0) {
        for (long at = 0; at < length;) {
          const auto* entry = reinterpret_cast<const linux_dirent64*>(entries + at);
          const char* child = entry->d_name;
          at += entry->d_reclen;
          if (child[0] == '.' && (child[1] == 0 || (child[1] == '.' && child[2] == 0))) continue;
          if (::syscall(SYS_unlinkat, dir, child, 0) != 0 && errno == EISDIR && depth > 0) {
            RemoveTreeAfterFork(dir, child, depth - 1);
          }
          removed_any = true;
        }
      }
      if (!removed_any) break;
      ::syscall(SYS_lseek, dir, 0, SEEK_SET);
    }
    ::syscall(SYS_close, dir);
  }
  ::syscall(SYS_unlinkat, parent, name, AT_REMOVEDIR);
}

void RemoveTreeAfterFork(const char* path) { RemoveTreeAfterFork(AT_FDCWD, path, kMaxTreeDepth); }

// A launcher ends a job by SIGKILLing its ranks' process groups, bridges
// included, which then cannot remove their rank directories. So each
// directory gets a janitor: a child in a session of its own (out of the
// launcher's reach) that holds no descriptor of the job's, waits for the
// bridge to die however it dies, removes the directory and exits.
// Returns once the janitor is out of the bridge's process group, so that a
// launcher's SIGKILL to the group, however early, cannot take it along.
void StartJanitor(const std::string& path) {
  const pid_t bridge = ::getpid();
  const char* const target = path.c_str();
  // The janitor renames itself (argv[0] in place, as ps shows it) so that
  // nobody counting or signalling "pmi-bridge" processes takes it for one.
  char* const argv0 = program_invocation_name;
  const size_t argv0_length = argv0 != nullptr ? std::strlen(argv0) : 0;
  static constexpr char kJanitorName[] = "pmi-shim-janitor";
  int ready[2];
  if (::pipe2(ready, O_CLOEXEC) != 0) return;  // no janitor: the next bridge's sweep
  const pid_t child = ::fork();
  if (child != 0) {
    ::close(ready[1]);
    char byte;
    if (child > 0) {
      while (::read(ready[0], &byte, 1) < 0 && errno == EINTR) {
      }
    }
    ::close(ready[0]);
    return;
  }
  ::syscall(SYS_setsid);
  for (size_t i = 0; i < argv0_length; ++i) {
    argv0[i] = i < sizeof(kJanitorName) - 1 ? kJanitorName[i] : '\0';
  }
  int bridge_fd = static_cast<int>(::syscall(SYS_pidfd_open, bridge, 0u));
  const bool bridge_gone = bridge_fd < 0 && errno == ESRCH;
  // Above 0-2, which are reopened on /dev/null below.
  if (bridge_fd >= 0 && bridge_fd < 3) {
    bridge_fd = static_cast<int>(::syscall(SYS_fcntl, bridge_fd, F_DUPFD, 3));
  }
  ::syscall(SYS_write, ready[1], "r", 1);
  if (bridge_fd < 0) {  // gone already: clean up now; no pidfd here: the next sweep will
    if (bridge_gone) RemoveTreeAfterFork(target);
    ::syscall(SYS_exit_group, 0);
  }
  // stdout kept open would hold the launcher's output pipe open.
  ::syscall(SYS_close_range, 0u, static_cast<unsigned>(bridge_fd - 1), 0u);
  ::syscall(SYS_close_range, static_cast<unsigned>(bridge_fd + 1), ~0u, 0u);
  const int null = static_cast<int>(::syscall(SYS_openat, AT_FDCWD, "/dev/null", O_RDWR));
  for (int fd = 1; null == 0 && fd <= 2; ++fd) ::syscall(SYS_dup2, null, fd);
  pollfd wait_for{bridge_fd, POLLIN, 0};
  while (::syscall(SYS_poll, &wait_for, 1, -1) < 0) {
  }
  RemoveTreeAfterFork(target);
  ::syscall(SYS_exit_group, 0);
}

std::string InodeOf(const char* path) {
  struct stat info {};
  if (::stat(path, &info) != 0) return "none";
  return absl::StrCat(info.st_dev, ":", info.st_ino);
}

// readlink of /proc/self/ns/KIND, e.g. "ipc:[4026531839]".
std::string NamespaceOf(const char* kind) {
  char link[64] = {};
  const ssize_t n =
      ::readlink(absl::StrCat("/proc/self/ns/", kind).c_str(), link, sizeof(link) - 1);
  return n > 0 ? std::string(link, n) : "unknown";
}

}  // namespace

std::string PathSafeJobName(const std::string& job) {
  std::string safe;
  for (char c : job) {
    const bool plain = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                       c == '_' || c == '-';
    safe += plain ? c : '_';
    if (safe.size() == 40) break;  // sun_path holds 107 bytes in all
  }
  return safe.empty() ? "job" : safe;
}

absl::StatusOr<std::unique_ptr<RankDirectory>> RankDirectory::Create(const std::string& root,
                                                                     const std::string& job,
                                                                     int rank) {
  if (::mkdir(root.c_str(), 0755) != 0 && errno != EEXIST) {
    return absl::ErrnoToStatus(
        errno, absl::StrCat("cannot create ", root, " (set --publish-dir or PMI_SHIM_RUNDIR)"));
  }
  RemoveStaleSiblings(root);
  const std::string path =
      absl::StrCat(root, "/", PathSafeJobName(job), ".", rank, ".", ::getpid());
  // sun_path holds 107 bytes; "/pmix.sock" is the longest name inside.
  if (path.size() + 10 > 107) {
    return absl::InvalidArgumentError(
        absl::StrCat("the rank directory ", path,
                     " is too long a path for a Unix socket (107 bytes); "
                     "choose a shorter --publish-dir or PMI_SHIM_RUNDIR"));
  }
  // The janitor first: a launcher may SIGKILL this bridge at any moment
  // (another rank failed), and a directory made before its janitor would
  // then stay until another bridge's sweep. The path names this process,
  // so whatever is there when it dies is its own.
  StartJanitor(path);
  if (::mkdir(path.c_str(), 0700) != 0) {
    return absl::ErrnoToStatus(errno, absl::StrCat("cannot create ", path));
  }
  return std::unique_ptr<RankDirectory>(new RankDirectory(path));
}

RankDirectory::~RankDirectory() { RemoveTree(path_); }

std::string RankDirectory::SocketPath() const {
  return absl::StrCat(path_, "/", rendezvous::kSocketName);
}

std::string RankDirectory::PmixSocketPath() const { return absl::StrCat(path_, "/pmix.sock"); }

absl::Status RankDirectory::WriteEnv(const rendezvous::EnvEntries& entries) {
  ASSIGN_OR_RETURN(std::string text, rendezvous::FormatEnvFile(entries));
  const std::string final_path = absl::StrCat(path_, "/", rendezvous::kEnvFileName);
  const std::string temporary = absl::StrCat(final_path, ".new");
  {
    std::ofstream out(temporary, std::ios::trunc);
    out << text;
    if (!out.flush()) return absl::InternalError(absl::StrCat("cannot write ", temporary));
  }
  if (::rename(temporary.c_str(), final_path.c_str()) != 0) {
    return absl::ErrnoToStatus(errno, absl::StrCat("cannot rename ", temporary));
  }
  return absl::OkStatus();
}

std::string DefaultPublishRoot() {
  if (const char* root = std::getenv("PMI_SHIM_RUNDIR"); root != nullptr && *root != '\0') {
    return root;
  }
  return ::getuid() == 0 ? "/run/pmi-shim" : absl::StrCat("/tmp/pmi-shim-", ::getuid());
}

rendezvous::EnvEntries HostSharingFacts() {
  return {{"PMI_SHIM_HOST_IPC_NS", NamespaceOf("ipc")},
          {"PMI_SHIM_HOST_USER_NS", NamespaceOf("user")},
          {"PMI_SHIM_HOST_SHM", InodeOf("/dev/shm")},
          {"PMI_SHIM_HOST_TMP", InodeOf("/tmp")}};
}

}  // namespace pmi_shim::exec
