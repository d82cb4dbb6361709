#include "bridge/launch/child_processes.h"

#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"

namespace pmi_shim::launch {
namespace {

constexpr int kHandledSignals[] = {SIGCHLD, SIGINT, SIGTERM, SIGHUP, SIGQUIT};

}  // namespace

int ExitStatusOf(int wait_status) {
  if (WIFEXITED(wait_status)) return WEXITSTATUS(wait_status);
  if (WIFSIGNALED(wait_status)) return 128 + WTERMSIG(wait_status);
  return 1;
}

std::string DescribeExit(int wait_status) {
  if (WIFSIGNALED(wait_status)) {
    return absl::StrCat("was killed by signal ", WTERMSIG(wait_status), " (",
                        ::strsignal(WTERMSIG(wait_status)), ")");
  }
  return absl::StrCat("exited with code ", ExitStatusOf(wait_status));
}

ChildProcesses::ChildProcesses(EventLoop& loop, Events events)
    : loop_(loop), events_(std::move(events)) {}

ChildProcesses::~ChildProcesses() {
  if (!started_) return;
  loop_.Unwatch(signal_fd_.get());
  ::sigprocmask(SIG_SETMASK, &saved_mask_, nullptr);
}

absl::Status ChildProcesses::Start() {
  sigset_t handled;
  sigemptyset(&handled);
  for (int sig : kHandledSignals) sigaddset(&handled, sig);
  if (::sigprocmask(SIG_BLOCK, &handled, &saved_mask_) != 0) {
    return absl::ErrnoToStatus(errno, "sigprocmask");
  }
  started_ = true;
  signal_fd_.Reset(::signalfd(-1, &handled, SFD_CLOEXEC | SFD_NONBLOCK));
  if (!signal_fd_.valid()) return absl::ErrnoToStatus(errno, "signalfd");
  ::signal(SIGPIPE, SIG_IGN);  // a peer that vanished must not kill us
  return loop_.Watch(signal_fd_.get(), EPOLLIN, [this](uint32_t) { OnSignals(); });
}

absl::StatusOr<pid_t> ChildProcesses::Spawn(int index, const SpawnRequest& request) {
  absl::StatusOr<pid_t> pid = launch::Spawn(request);
  if (pid.ok()) children_[*pid] = Child{index, request.own_process_group};
  return pid;
}

void ChildProcesses::SignalAll(int signal) {
  for (const auto& [pid, child] : children_) ::kill(child.own_group ? -pid : pid, signal);
}

void ChildProcesses::TerminateAll(absl::Duration grace) {
  SignalAll(SIGTERM);
  loop_.AddTimer(grace, [this] { SignalAll(SIGKILL); });
}

void ChildProcesses::OnSignals() {
  signalfd_siginfo info;
  bool child_exited = false;
  while (::read(signal_fd_.get(), &info, sizeof(info)) == sizeof(info)) {
    if (info.ssi_signo == SIGCHLD) {
      child_exited = true;
    } else if (events_.interrupted) {
      events_.interrupted(static_cast<int>(info.ssi_signo), ++interrupts_);
    }
  }
  if (!child_exited) return;
  if (events_.before_exits) events_.before_exits();
  int wait_status;
  pid_t pid;
  while ((pid = ::waitpid(-1, &wait_status, WNOHANG)) > 0) {
    auto it = children_.find(pid);
    if (it == children_.end()) continue;  // not ours (e.g. a reparented grandchild)
    const int index = it->second.index;
    children_.erase(it);
    if (events_.exited) events_.exited(index, wait_status);
  }
}

}  // namespace pmi_shim::launch
