#include "bridge/launch/spawn.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "common/unique_fd.h"

namespace pmi_shim::launch {
namespace {

std::vector<char*> CStrings(const std::vector<std::string>& strings) {
  std::vector<char*> pointers;
  pointers.reserve(strings.size() + 1);
  for (const std::string& s : strings) pointers.push_back(const_cast<char*>(s.c_str()));
  pointers.push_back(nullptr);
  return pointers;
}

// Runs in the child between fork and exec: async-signal-safe calls only.
[[noreturn]] void ExecChild(const SpawnRequest& request, pid_t parent, char* const* argv,
                            char* const* envp, int error_pipe) {
  if (request.own_process_group) ::setpgid(0, 0);
  if (request.parent_death_signal != 0) {
    ::prctl(PR_SET_PDEATHSIG, request.parent_death_signal);
    if (::getppid() != parent) ::_exit(127);  // the parent died before prctl
  }
  const int inherit_fd = request.inherit_fd;
  sigset_t none;
  sigemptyset(&none);
  ::sigprocmask(SIG_SETMASK, &none, nullptr);
  for (int sig : {SIGPIPE, SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGCHLD}) ::signal(sig, SIG_DFL);
  if (inherit_fd >= 0) {
    const int flags = ::fcntl(inherit_fd, F_GETFD);
    ::fcntl(inherit_fd, F_SETFD, flags & ~FD_CLOEXEC);
  }
  ::execvpe(argv[0], argv, envp);
  const int error = errno;
  (void)!::write(error_pipe, &error, sizeof(error));
  ::_exit(127);
}

}  // namespace

absl::StatusOr<pid_t> Spawn(const SpawnRequest& request) {
  if (request.argv.empty()) return absl::InvalidArgumentError("no command to run");
  std::vector<char*> argv = CStrings(request.argv);
  std::vector<char*> envp = CStrings(request.env);
  int pipe_fds[2];
  if (::pipe2(pipe_fds, O_CLOEXEC) != 0) return absl::ErrnoToStatus(errno, "pipe2");
  UniqueFd read_end(pipe_fds[0]);
  UniqueFd write_end(pipe_fds[1]);

  const pid_t parent = ::getpid();
  const pid_t pid = ::fork();
  if (pid < 0) return absl::ErrnoToStatus(errno, "fork");
  if (pid == 0) ExecChild(request, parent, argv.data(), envp.data(), write_end.get());

  // Also set the group from the parent: whichever runs first wins the race
  // against a kill(-pid) sent right after this returns.
  if (request.own_process_group) ::setpgid(pid, pid);
  write_end.Reset();
  int exec_errno = 0;
  ssize_t n;
  do {
    n = ::read(read_end.get(), &exec_errno, sizeof(exec_errno));
  } while (n < 0 && errno == EINTR);
  if (n == static_cast<ssize_t>(sizeof(exec_errno))) {
    ::waitpid(pid, nullptr, 0);
    return absl::ErrnoToStatus(exec_errno, absl::StrCat("cannot run ", request.argv[0]));
  }
  return pid;
}

}  // namespace pmi_shim::launch
