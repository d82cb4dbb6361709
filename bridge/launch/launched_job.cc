#include "bridge/launch/launched_job.h"

#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "bridge/launch/rank_environment.h"
#include "bridge/upstream/process_mapping.h"
#include "common/log.h"
#include "common/status_macros.h"

extern char** environ;

namespace pmi_shim::launch {
namespace {

std::vector<std::string> InheritedEnvironment() {
  std::vector<std::string> env;
  for (char** entry = environ; entry != nullptr && *entry != nullptr; ++entry) {
    env.emplace_back(*entry);
  }
  return env;
}

}  // namespace

LaunchedJob::LaunchedJob(LaunchOptions options)
    : options_(std::move(options)),
      children_(loop_, ChildProcesses::Events{
                           [this] { server_->DrainAll(); },
                           [this](int rank, int wait_status) { OnRankExit(rank, wait_status); },
                           [this](int signal, int count) { OnInterrupt(signal, count); },
                       }),
      running_(options_.size, false) {
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
}

LaunchedJob::~LaunchedJob() = default;

absl::StatusOr<std::vector<std::string>> LaunchedJob::RankEnvironment(
    int rank, int fd, const std::string& port_address) {
  if (pmix_server_ != nullptr) {
    ASSIGN_OR_RETURN(std::vector<std::string> pmix, pmix_server_->ClientEnvironment(rank));
    return BuildPmixRankEnvironment(inherited_environment_, pmix);
  }
  if (!pmix_v1_servers_.empty()) {
    std::vector<std::string> pmix = pmix_v1_servers_[rank]->ClientEnvironment();
    pmix.emplace_back("OMPI_MCA_schizo=ompi");  // see PmixServer::ClientEnvironment
    return BuildPmixRankEnvironment(inherited_environment_, pmix);
  }
  Rendezvous rendezvous;
  rendezvous.rank = rank;
  rendezvous.size = options_.size;
  rendezvous.fd = fd;
  rendezvous.port_address = port_address;
  rendezvous.local_rank = rank;  // every rank of a launched job is on this node
  rendezvous.local_size = options_.size;
  return BuildRankEnvironment(inherited_environment_, rendezvous);
}

absl::Status LaunchedJob::StartRanks() {
  inherited_environment_ = InheritedEnvironment();
  std::string port_address;
  if (options_.pmix) {
    ASSIGN_OR_RETURN(pmix_server_, downstream::PmixServer::Start(loop_, *host_, {}));
  } else if (options_.pmix_v1) {
    for (int rank = 0; rank < options_.size; ++rank) {
      downstream::PmixV1Server::Options v1_options;
      v1_options.rank = rank;
      v1_options.trace = options_.trace;
      ASSIGN_OR_RETURN(std::unique_ptr<downstream::PmixV1Server> server,
                       downstream::PmixV1Server::Start(loop_, *host_, v1_options));
      pmix_v1_servers_.push_back(std::move(server));
    }
  } else if (options_.pmi_port) {
    ASSIGN_OR_RETURN(int port, server_->ListenTcp("127.0.0.1", 0));
    port_address = absl::StrCat("127.0.0.1:", port);
  }
  for (int rank = 0; rank < options_.size; ++rank) {
    UniqueFd child_end;
    if (!options_.pmix && !options_.pmix_v1 && !options_.pmi_port) {
      int pair[2];
      if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair) != 0) {
        return absl::ErrnoToStatus(errno, "socketpair");
      }
      child_end.Reset(pair[1]);
      RETURN_IF_ERROR(server_->AddConnectedClient(UniqueFd(pair[0]), rank));
    }
    ASSIGN_OR_RETURN(std::vector<std::string> env,
                     RankEnvironment(rank, child_end.get(), port_address));
    SpawnRequest request{options_.command, std::move(env), child_end.get()};
    absl::StatusOr<pid_t> pid = children_.Spawn(rank, request);
    if (!pid.ok()) return pid.status();
    running_[rank] = true;
  }
  return absl::OkStatus();
}

absl::StatusOr<int> LaunchedJob::Run() {
  if (options_.command.empty()) return absl::InvalidArgumentError("no command to launch");
  RETURN_IF_ERROR(children_.Start());
  started_ = absl::Now();
  absl::Status started = StartRanks();
  if (!started.ok()) {
    EndJob(127, "");
    if (children_.running() == 0) return started;
    log::Error(absl::StrCat(started.message(), "; stopping the ranks already started"));
  }
  if (options_.timeout > absl::ZeroDuration()) {
    loop_.AddTimer(options_.timeout, [this] {
      EndJob(124, absl::StrCat("the job exceeded --timeout ",
                               absl::FormatDuration(options_.timeout), "; ending it"));
    });
  }
  if (options_.init_timeout > absl::ZeroDuration()) CheckSilentRanks();
  if (children_.running() > 0) RETURN_IF_ERROR(loop_.Run());
  server_->Shutdown();
  if (pmix_server_ != nullptr) pmix_server_->Stop();
  pmix_v1_servers_.clear();
  if (!started.ok()) return started;
  WarnIfNobodySpoke();
  return end_status_.value_or(first_failure_.value_or(0));
}

void LaunchedJob::OnInterrupt(int signal, int count) {
  if (count == 1) {
    log::Warning(
        absl::StrCat("got ", ::strsignal(signal), "; ending the job (again to kill it now)"));
    EndJob(128 + signal, "", signal);
  } else {
    children_.SignalAll(SIGKILL);
  }
}

void LaunchedJob::OnRankExit(int rank, int wait_status) {
  running_[rank] = false;
  if (children_.running() == 0) loop_.Stop();
  const int status = ExitStatusOf(wait_status);
  if (end_status_.has_value()) return;  // we are ending the job: expected
  if (status != 0 && !first_failure_.has_value()) first_failure_ = status;
  // libpmix does not report clients that vanish; its server reports them as
  // lost to the host (which ends the job) when told of the exit.
  if (pmix_server_ != nullptr && pmix_server_->RankExited(rank, DescribeExit(wait_status))) return;
  if (!pmix_v1_servers_.empty() && pmix_v1_servers_[rank]->RankExited(DescribeExit(wait_status))) {
    return;
  }
  const bool spoke = RankSpoke(rank);
  if (spoke && !host_->IsFinalized(rank)) {
    EndJob(status != 0 ? status : 1, absl::StrCat("rank ", rank, ": ", DescribeExit(wait_status),
                                                  " without finalize; the job cannot complete"));
    return;
  }
  if (RanksWaiting() > 0 && !host_->IsFinalized(rank)) {
    EndJob(
        status != 0 ? status : 1,
        absl::StrCat("rank ", rank, ": ", DescribeExit(wait_status), " without joining PMI while ",
                     RanksWaiting(), " ranks wait for it; every rank must call MPI_Init"));
    return;
  }
  if (status != 0) log::Warning(absl::StrCat("rank ", rank, ": ", DescribeExit(wait_status)));
}

void LaunchedJob::CheckSilentRanks() {
  if (end_status_.has_value()) return;
  const absl::Duration waited = absl::Now() - started_;
  const int waiting = RanksWaiting();
  if (waiting > 0 && waited >= options_.init_timeout) {
    for (int rank = 0; rank < options_.size; ++rank) {
      if (!running_[rank] || RankSpoke(rank)) continue;
      EndJob(1, absl::StrCat("rank ", rank, ": sent nothing for ", absl::FormatDuration(waited),
                             " while ", waiting,
                             " ranks wait for it; it may use another PMI than this job offers "
                             "(PMI-1/2 vs PMIx: see --protocol) or not be an MPI program (raise "
                             "--init-timeout if it is slow)"));
      return;
    }
  }
  loop_.AddTimer(absl::Milliseconds(250), [this] { CheckSilentRanks(); });
}

void LaunchedJob::WarnIfNobodySpoke() const {
  if (options_.size < 2 || end_status_.has_value()) return;
  for (int rank = 0; rank < options_.size; ++rank) {
    if (RankSpoke(rank)) return;
  }
  // The classic symptom of a launcher/library mismatch: N processes that
  // each believe they are rank 0 of 1.
  log::Warning(absl::StrCat("none of the ", options_.size, " ranks used ",
                            options_.pmix ? "PMIx" : "PMI-1/PMI-2", "; if ",
                            options_.command.front(),
                            " is an MPI program, each rank ran alone as a "
                            "singleton: its MPI library probably speaks ",
                            options_.pmix ? "PMI-1/PMI-2 (MPICH)" : "PMIx (Open MPI)",
                            ", so run it with --protocol ", options_.pmix ? "auto" : "pmix"));
}

bool LaunchedJob::RankSpoke(int rank) const {
  if (!pmix_v1_servers_.empty()) return pmix_v1_servers_[rank]->Connected();
  return pmix_server_ != nullptr ? pmix_server_->Connected(rank) : server_->RankSpoke(rank);
}

int LaunchedJob::RanksWaiting() const {
  if (pmix_server_ == nullptr) return host_->ranks_in_barrier();
  // libpmix runs all-local fences itself, so the host's barrier never sees
  // them: every connected, unfinalized rank may be waiting in one.
  int waiting = 0;
  for (int rank = 0; rank < options_.size; ++rank) {
    waiting +=
        (running_[rank] && pmix_server_->Connected(rank) && !host_->IsFinalized(rank)) ? 1 : 0;
  }
  return waiting;
}

void LaunchedJob::EndJob(int status, const std::string& message, int signal) {
  if (end_status_.has_value()) return;
  end_status_ = status;
  if (!message.empty()) log::Error(message);
  children_.SignalAll(signal);
  loop_.AddTimer(options_.kill_grace, [this] { children_.SignalAll(SIGKILL); });
}

}  // namespace pmi_shim::launch
