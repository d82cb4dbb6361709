#include "bridge/launch/launched_job.h"

#include <signal.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "bridge/launch/rank_environment.h"
#include "bridge/launch/spawn.h"
#include "bridge/upstream/process_mapping.h"
#include "common/log.h"
#include "common/status_macros.h"

extern char** environ;

namespace pmi_shim::launch {
namespace {

constexpr int kHandledSignals[] = {SIGCHLD, SIGINT, SIGTERM, SIGHUP, SIGQUIT};

// A rank's wait status as a shell would report it.
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

std::vector<std::string> InheritedEnvironment() {
  std::vector<std::string> env;
  for (char** entry = environ; entry != nullptr && *entry != nullptr; ++entry) {
    env.emplace_back(*entry);
  }
  return env;
}

}  // namespace

LaunchedJob::LaunchedJob(LaunchOptions options) : options_(std::move(options)) {
  session::JobInfo info;
  info.kvsname = absl::StrCat("pmi-shim-", ::getpid(), "-0");
  info.size = options_.size;
  info.universe_size = options_.size;
  info.process_mapping = upstream::SingleNodeMapping(options_.size);
  upstream::EmbeddedHost::Events events;
  events.abort = [this](int rank, int code, const std::string& message) {
    EndJob(code & 0xff, absl::StrCat("rank ", rank, ": aborted the job with exit code ", code,
                                     message.empty() ? "" : ": ", message));
  };
  // `reason` is one line that already names the rank.
  events.lost = [this](int rank, const std::string& reason) { EndJob(1, reason); };
  host_ = std::make_unique<upstream::EmbeddedHost>(std::move(info), std::move(events));
  downstream::ServerOptions server_options;
  server_options.protocols = options_.protocols;
  server_options.trace = options_.trace;
  server_ = std::make_unique<downstream::PmiServer>(loop_, *host_, server_options);
  ranks_.resize(options_.size);
}

LaunchedJob::~LaunchedJob() {
  server_.reset();
  if (signal_fd_.valid()) ::sigprocmask(SIG_SETMASK, &saved_mask_, nullptr);
}

absl::Status LaunchedJob::BlockSignals() {
  sigset_t handled;
  sigemptyset(&handled);
  for (int sig : kHandledSignals) sigaddset(&handled, sig);
  if (::sigprocmask(SIG_BLOCK, &handled, &saved_mask_) != 0) {
    return absl::ErrnoToStatus(errno, "sigprocmask");
  }
  signal_fd_.Reset(::signalfd(-1, &handled, SFD_CLOEXEC | SFD_NONBLOCK));
  if (!signal_fd_.valid()) return absl::ErrnoToStatus(errno, "signalfd");
  ::signal(SIGPIPE, SIG_IGN);  // a client that vanished must not kill us
  return loop_.Watch(signal_fd_.get(), EPOLLIN, [this](uint32_t) { OnSignals(); });
}

absl::Status LaunchedJob::StartRanks() {
  std::string port_address;
  if (options_.pmi_port) {
    ASSIGN_OR_RETURN(int port, server_->ListenTcp("127.0.0.1", 0));
    port_address = absl::StrCat("127.0.0.1:", port);
  }
  const std::vector<std::string> inherited = InheritedEnvironment();
  for (int rank = 0; rank < options_.size; ++rank) {
    Rendezvous rendezvous{rank, options_.size, -1, port_address, rank, options_.size};
    UniqueFd child_end;
    if (!options_.pmi_port) {
      int pair[2];
      if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair) != 0) {
        return absl::ErrnoToStatus(errno, "socketpair");
      }
      child_end.Reset(pair[1]);
      RETURN_IF_ERROR(server_->AddConnectedClient(UniqueFd(pair[0]), rank));
      rendezvous.fd = child_end.get();
    }
    SpawnRequest request{options_.command, BuildRankEnvironment(inherited, rendezvous),
                         rendezvous.fd};
    absl::StatusOr<pid_t> pid = SpawnInOwnProcessGroup(request);
    if (!pid.ok()) return pid.status();
    ranks_[rank] = Rank{*pid, true};
    rank_of_pid_[*pid] = rank;
  }
  return absl::OkStatus();
}

absl::StatusOr<int> LaunchedJob::Run() {
  if (options_.command.empty()) return absl::InvalidArgumentError("no command to launch");
  RETURN_IF_ERROR(BlockSignals());
  started_ = absl::Now();
  absl::Status started = StartRanks();
  if (!started.ok()) {
    EndJob(127, "");
    if (RunningRanks() == 0) return started;
    log::Error(absl::StrCat(started.message(), "; stopping the ranks already started"));
  }
  if (options_.timeout > absl::ZeroDuration()) {
    loop_.AddTimer(options_.timeout, [this] {
      EndJob(124, absl::StrCat("the job exceeded --timeout ",
                               absl::FormatDuration(options_.timeout), "; ending it"));
    });
  }
  if (options_.init_timeout > absl::ZeroDuration()) CheckSilentRanks();
  if (RunningRanks() > 0) RETURN_IF_ERROR(loop_.Run());
  server_->Shutdown();
  if (!started.ok()) return started;
  return end_status_.value_or(first_failure_.value_or(0));
}

int LaunchedJob::RunningRanks() const {
  int running = 0;
  for (const Rank& rank : ranks_) running += rank.running ? 1 : 0;
  return running;
}

void LaunchedJob::OnSignals() {
  signalfd_siginfo info;
  bool child_exited = false;
  while (::read(signal_fd_.get(), &info, sizeof(info)) == sizeof(info)) {
    if (info.ssi_signo == SIGCHLD) {
      child_exited = true;
      continue;
    }
    const int sig = static_cast<int>(info.ssi_signo);
    if (++interrupts_ == 1) {
      log::Warning(absl::StrCat("got ", ::strsignal(sig), "; ending the job (again to kill it now)"));
      EndJob(128 + sig, "", sig);
    } else {
      SignalRanks(SIGKILL);
    }
  }
  if (!child_exited) return;
  // Hear what exiting clients sent last (abort, finalize) before judging.
  server_->DrainAll();
  int wait_status;
  pid_t pid;
  while ((pid = ::waitpid(-1, &wait_status, WNOHANG)) > 0) {
    auto it = rank_of_pid_.find(pid);
    if (it != rank_of_pid_.end()) OnRankExit(it->second, wait_status);
  }
  if (RunningRanks() == 0) loop_.Stop();
}

void LaunchedJob::OnRankExit(int rank, int wait_status) {
  ranks_[rank].running = false;
  const int status = ExitStatusOf(wait_status);
  if (end_status_.has_value()) return;  // we are ending the job: expected
  if (status != 0 && !first_failure_.has_value()) first_failure_ = status;
  const bool spoke = server_->RankSpoke(rank);
  if (spoke && !host_->IsFinalized(rank)) {
    EndJob(status != 0 ? status : 1,
           absl::StrCat("rank ", rank, ": ", DescribeExit(wait_status),
                        " without finalize; the job cannot complete"));
    return;
  }
  if (host_->ranks_in_barrier() > 0 && !host_->IsFinalized(rank)) {
    EndJob(status != 0 ? status : 1,
           absl::StrCat("rank ", rank, ": ", DescribeExit(wait_status), " without joining PMI while ",
                        host_->ranks_in_barrier(),
                        " ranks wait for it in a barrier; every rank must call MPI_Init"));
    return;
  }
  if (status != 0) log::Warning(absl::StrCat("rank ", rank, ": ", DescribeExit(wait_status)));
}

void LaunchedJob::CheckSilentRanks() {
  if (end_status_.has_value()) return;
  const absl::Duration waited = absl::Now() - started_;
  const int waiting = host_->ranks_in_barrier();
  if (waiting > 0 && waited >= options_.init_timeout) {
    for (int rank = 0; rank < options_.size; ++rank) {
      if (!ranks_[rank].running || server_->RankSpoke(rank)) continue;
      EndJob(1, absl::StrCat(
                    "rank ", rank, ": sent nothing for ", absl::FormatDuration(waited), " while ",
                    waiting, " ranks wait for it in a barrier; it may use another PMI (an Open "
                    "MPI/PMIx build) or not be an MPI program (raise --init-timeout if it is slow)"));
      return;
    }
  }
  loop_.AddTimer(absl::Milliseconds(250), [this] { CheckSilentRanks(); });
}

void LaunchedJob::EndJob(int status, const std::string& message, int signal) {
  if (end_status_.has_value()) return;
  end_status_ = status;
  if (!message.empty()) log::Error(message);
  SignalRanks(signal);
  loop_.AddTimer(options_.kill_grace, [this] { SignalRanks(SIGKILL); });
}

void LaunchedJob::SignalRanks(int signal) {
  for (const Rank& rank : ranks_) {
    if (rank.running) ::kill(-rank.pid, signal);  // the rank's whole process group
  }
}

}  // namespace pmi_shim::launch
