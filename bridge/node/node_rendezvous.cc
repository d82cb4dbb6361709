#include "bridge/node/node_rendezvous.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "bridge/node/node_plan.h"
#include "common/status_macros.h"

namespace pmi_shim::node {
namespace {

// A directory of ours (not a symlink, owned by this user), made if missing.
absl::Status MakeOwnDirectory(const std::string& path, mode_t mode) {
  if (::mkdir(path.c_str(), mode) != 0 && errno != EEXIST) {
    return absl::ErrnoToStatus(
        errno, absl::StrCat("cannot create ", path, " (set --publish-dir or PMI_SHIM_RUNDIR)"));
  }
  struct stat info {};
  if (::lstat(path.c_str(), &info) != 0) return absl::ErrnoToStatus(errno, path);
  if (!S_ISDIR(info.st_mode) || info.st_uid != ::geteuid()) {
    return absl::PermissionDeniedError(
        absl::StrCat(path, " is not a directory of this user; refusing to use it"));
  }
  return absl::OkStatus();
}

// The node lock, held; retaken when the file was replaced meanwhile.
absl::StatusOr<UniqueFd> TakeLock(const std::string& directory) {
  const std::string path = absl::StrCat(directory, "/", kLockFileName);
  for (int attempt = 0; attempt < 100; ++attempt) {
    RETURN_IF_ERROR(MakeOwnDirectory(directory, 0700));
    UniqueFd lock(::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600));
    if (!lock.valid()) {
      if (errno == ENOENT) continue;  // the directory went away meanwhile
      return absl::ErrnoToStatus(errno, absl::StrCat("cannot open ", path));
    }
    while (::flock(lock.get(), LOCK_EX) != 0) {
      if (errno != EINTR) return absl::ErrnoToStatus(errno, absl::StrCat("flock ", path));
    }
    struct stat held {
    }, current{};
    if (::fstat(lock.get(), &held) == 0 && ::stat(path.c_str(), &current) == 0 &&
        held.st_ino == current.st_ino && held.st_dev == current.st_dev) {
      return lock;
    }
  }
  return absl::UnavailableError(absl::StrCat("cannot hold the node lock ", path));
}

// Connected, or NotFound when nobody listens (no socket, or a stale one).
absl::StatusOr<UniqueFd> Connect(const std::string& path) {
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  if (path.size() >= sizeof(address.sun_path)) {
    return absl::InvalidArgumentError(
        absl::StrCat("the node socket path ", path, " is longer than a Unix socket's ",
                     sizeof(address.sun_path) - 1, " bytes; choose a shorter --publish-dir"));
  }
  std::memcpy(address.sun_path, path.c_str(), path.size() + 1);
  UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!fd.valid()) return absl::ErrnoToStatus(errno, "socket(AF_UNIX)");
  while (::connect(fd.get(), reinterpret_cast<sockaddr*>(&address), sizeof(address)) != 0) {
    if (errno == EINTR) continue;
    if (errno == ENOENT || errno == ECONNREFUSED) {
      return absl::NotFoundError(absl::StrCat("no node server at ", path));
    }
    return absl::ErrnoToStatus(errno, absl::StrCat("connect ", path));
  }
  return fd;
}

// Starts `program node-server --dir DIRECTORY --ready-fd 3` in a session of
// its own, not as our child (a grandchild: our reaper never meets it), and
// waits until it listens.
absl::Status StartServer(const JoinOptions& options, const std::string& directory) {
  std::vector<std::string> args = {options.program, "node-server", "--dir",
                                   directory,       "--ready-fd",  "3"};
  for (int i = 0; i < options.verbosity; ++i) args.push_back("-v");
  std::vector<char*> argv;
  for (std::string& arg : args) argv.push_back(arg.data());
  argv.push_back(nullptr);
  int ready[2];
  if (::pipe2(ready, O_CLOEXEC) != 0) return absl::ErrnoToStatus(errno, "pipe2");
  UniqueFd ready_read(ready[0]);
  UniqueFd ready_write(ready[1]);
  const pid_t child = ::fork();
  if (child < 0) return absl::ErrnoToStatus(errno, "fork for the node server");
  if (child == 0) {
    // Async-signal-safe calls only from here on.
    if (::fork() != 0) ::_exit(0);
    ::setsid();
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);  // ChildProcesses blocked SIGCHLD and friends
    if (ready[1] == 3) {
      ::fcntl(3, F_SETFD, 0);
    } else {
      ::dup2(ready[1], 3);
    }
    const int null = ::open("/dev/null", O_RDWR | O_CLOEXEC);
    if (null >= 0) {
      ::dup2(null, 0);
      ::dup2(null, 1);
    }
    // The rank's PMI_FD and anything else of the bridge's stay behind.
    ::syscall(SYS_close_range, 4u, ~0u, 0u);
    ::execv(argv[0], argv.data());
    ::_exit(127);
  }
  int status = 0;
  while (::waitpid(child, &status, 0) < 0 && errno == EINTR) {
  }
  ready_write.Reset();
  pollfd wait_for{ready_read.get(), POLLIN, 0};
  const int timeout = static_cast<int>(absl::ToInt64Milliseconds(options.start_wait));
  int polled;
  while ((polled = ::poll(&wait_for, 1, timeout)) < 0 && errno == EINTR) {
  }
  char byte = 0;
  if (polled <= 0 || ::read(ready_read.get(), &byte, 1) != 1) {
    return absl::UnavailableError(
        absl::StrCat("the node server for ", directory, " did not start (",
                     polled == 0 ? "no answer in time" : "it ended", ")"));
  }
  return absl::OkStatus();
}

}  // namespace

std::string LocalHostname() {
  char name[256] = {};
  if (::gethostname(name, sizeof(name) - 1) != 0 || name[0] == '\0') return "localhost";
  return name;
}

absl::StatusOr<UniqueFd> JoinNodeServer(const JoinOptions& options, bool* started) {
  *started = false;
  RETURN_IF_ERROR(MakeOwnDirectory(options.root, 0755));
  const std::string directory = absl::StrCat(options.root, "/", options.name);
  const std::string socket_path = absl::StrCat(directory, "/", kControlSocketName);
  ASSIGN_OR_RETURN(UniqueFd lock, TakeLock(directory));
  absl::StatusOr<UniqueFd> connected = Connect(socket_path);
  if (connected.ok() || !absl::IsNotFound(connected.status())) return connected;
  RETURN_IF_ERROR(StartServer(options, directory));
  *started = true;
  return Connect(socket_path);
}

}  // namespace pmi_shim::node
