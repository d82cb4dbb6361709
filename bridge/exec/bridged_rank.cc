#include "bridge/exec/bridged_rank.h"

#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <utility>

#include "absl/strings/str_cat.h"
#include "bridge/launch/rank_environment.h"
#include "bridge/upstream/pmi_wire_host.h"
#include "common/log.h"
#include "common/status_macros.h"
#include "common/unique_fd.h"

extern char** environ;

namespace pmi_shim::exec {
namespace {

std::vector<std::string> CurrentEnvironment() {
  std::vector<std::string> env;
  for (char** entry = environ; entry != nullptr && *entry != nullptr; ++entry) {
    env.emplace_back(*entry);
  }
  return env;
}

}  // namespace

BridgedRank::BridgedRank(ExecOptions options)
    : options_(std::move(options)),
      children_(loop_, launch::ChildProcesses::Events{
                           [this] {
                             if (server_ != nullptr) server_->DrainAll();
                           },
                           [this](int, int wait_status) { OnCommandExit(wait_status); },
                           [this](int signal, int count) { OnInterrupt(signal, count); },
                       }) {}

BridgedRank::~BridgedRank() {
  server_.reset();  // sessions refer to the host
  host_.reset();
}

absl::Status BridgedRank::ConnectUpstream(const std::vector<std::string>& environment) {
  ASSIGN_OR_RETURN(upstream::HostEndpoint endpoint,
                   upstream::DetectHostEndpoint(environment, options_.upstream));
  for (const std::string& warning : endpoint.warnings) log::Warning(warning);
  if (endpoint.family != upstream::HostFamily::kPmiWire) {
    return absl::UnimplementedError(
        "the host server speaks PMIx, and this build's exec bridge serves only PMI-1/PMI-2 "
        "hosts; run the command directly under mpirun for now");
  }
  upstream::PmiWireHost::Options host_options;
  host_options.on_upstream_lost = [this](std::string reason) { OnUpstreamLost(std::move(reason)); };
  host_options.on_finalized = [this] {
    host_finalized_ = true;
    if (command_status_.has_value()) loop_.Stop();
  };
  if (options_.trace) {
    host_options.trace = [](bool to_host, const wire::Message& message) {
      log::Debug(absl::StrCat(to_host ? "host <- " : "host -> ", message.DebugString()));
    };
  }
  ASSIGN_OR_RETURN(std::unique_ptr<upstream::PmiWireHost> host,
                   upstream::PmiWireHost::Connect(loop_, endpoint, endpoint.protocol,
                                                  std::move(host_options)));
  rank_ = host->rank();
  host_ = std::move(host);
  return absl::OkStatus();
}

absl::Status BridgedRank::StartCommand(const std::vector<std::string>& environment) {
  downstream::ServerOptions server_options;
  server_options.protocols = options_.downstream;
  server_options.trace = options_.trace;
  server_ = std::make_unique<downstream::PmiServer>(loop_, *host_, server_options);
  int pair[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair) != 0) {
    return absl::ErrnoToStatus(errno, "socketpair");
  }
  UniqueFd child_end(pair[1]);
  RETURN_IF_ERROR(server_->AddConnectedClient(UniqueFd(pair[0]), rank_));
  launch::Rendezvous rendezvous;
  rendezvous.rank = rank_;
  rendezvous.size = host_->info().size;
  rendezvous.fd = child_end.get();
  launch::SpawnRequest request{options_.command,
                               launch::BuildRankEnvironment(environment, rendezvous),
                               child_end.get()};
  return children_.Spawn(0, request).status();
}

absl::StatusOr<int> BridgedRank::Run() {
  if (options_.command.empty()) return absl::InvalidArgumentError("no command to run");
  const std::vector<std::string> environment = CurrentEnvironment();
  RETURN_IF_ERROR(ConnectUpstream(environment));
  RETURN_IF_ERROR(children_.Start());
  if (absl::Status started = StartCommand(environment); !started.ok()) {
    // The host saw this rank initialize: tell it the rank is gone.
    host_->Lost(rank_, absl::StrCat("rank ", rank_, ": ", started.message()));
    return started;
  }
  RETURN_IF_ERROR(loop_.Run());
  if (forced_status_.has_value()) return *forced_status_;
  return command_status_.value_or(1);
}

void BridgedRank::OnCommandExit(int wait_status) {
  command_status_ = launch::ExitStatusOf(wait_status);
  if (forced_status_.has_value()) {
    loop_.Stop();
    return;
  }
  // A command that never spoke PMI (a wrapper that failed, a plain tool) did
  // not finalize; do it for its rank if it succeeded, so the host does not
  // abort the job for a rank that simply had nothing to say.
  if (!server_->RankSpoke(rank_) && *command_status_ == 0) host_->Finalized(rank_);
  FinishSoon();
}

void BridgedRank::FinishSoon() {
  if (host_finalized_) {
    loop_.Stop();
    return;
  }
  // Let the host hear the finalize (or the abort sent for a lost client)
  // before the bridge exits and its connection closes.
  loop_.AddTimer(options_.finalize_wait, [this] { loop_.Stop(); });
}

void BridgedRank::OnUpstreamLost(std::string reason) {
  if (forced_status_.has_value() || host_finalized_) return;
  log::Error(absl::StrCat("rank ", rank_, ": ", reason, "; ending ",
                          options_.command.front()));
  forced_status_ = (command_status_.has_value() && *command_status_ != 0) ? *command_status_ : 1;
  if (command_status_.has_value()) {
    loop_.Stop();
    return;
  }
  children_.TerminateAll(options_.kill_grace);
}

void BridgedRank::OnInterrupt(int signal, int count) {
  children_.SignalAll(count == 1 ? signal : SIGKILL);
}

}  // namespace pmi_shim::exec
