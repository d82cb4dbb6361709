#include "bridge/launch/own_session.h"

#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>

namespace pmi_shim::launch {

int RunInOwnSession(absl::FunctionRef<int()> body) {
  // Blocked before the fork and left blocked in the child, so a signal that
  // comes early is waited for below, or stays pending in the child until the
  // job's signalfd (which wants these blocked) takes it: never lost.
  sigset_t forwarded;
  sigemptyset(&forwarded);
  for (int sig : {SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGCHLD}) sigaddset(&forwarded, sig);
  sigset_t previous;
  ::sigprocmask(SIG_BLOCK, &forwarded, &previous);
  std::fflush(nullptr);  // nothing buffered is written twice
  const pid_t parent = ::getpid();
  const pid_t child = ::fork();
  if (child < 0) {
    ::sigprocmask(SIG_SETMASK, &previous, nullptr);
    return body();
  }
  if (child == 0) {
    ::setsid();
    ::prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (::getppid() != parent) ::_exit(128 + SIGTERM);  // the front died before prctl
    const int status = body();
    std::fflush(nullptr);
    ::_exit(status);
  }
  while (true) {
    siginfo_t info;
    const int sig = ::sigwaitinfo(&forwarded, &info);
    if (sig < 0) {
      if (errno == EINTR) continue;
      break;
    }
    if (sig != SIGCHLD) {
      ::kill(child, sig);
      continue;
    }
    int wait_status = 0;
    const pid_t done = ::waitpid(child, &wait_status, WNOHANG);
    if (done == child) {
      ::sigprocmask(SIG_SETMASK, &previous, nullptr);
      return WIFEXITED(wait_status) ? WEXITSTATUS(wait_status) : 128 + WTERMSIG(wait_status);
    }
  }
  // sigwaitinfo cannot fail with a valid set; wait plainly all the same.
  int wait_status = 0;
  while (::waitpid(child, &wait_status, 0) < 0 && errno == EINTR) {
  }
  ::sigprocmask(SIG_SETMASK, &previous, nullptr);
  return WIFEXITED(wait_status) ? WEXITSTATUS(wait_status) : 128 + WTERMSIG(wait_status);
}

}  // namespace pmi_shim::launch
