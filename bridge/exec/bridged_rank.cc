#include "bridge/exec/bridged_rank.h"

#include <signal.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "bridge/engines/engine_command.h"
#include "bridge/exec/engine_image.h"
#include "bridge/exec/reporting_host.h"
#include "bridge/launch/rank_environment.h"
#include "bridge/node/node_rendezvous.h"
#include "bridge/node/startup_exchange.h"
#include "bridge/upstream/pmi_wire_host.h"
#include "bridge/upstream/pmix_client_host.h"
#include "common/log.h"
#include "common/rendezvous.h"
#include "common/sockets.h"
#include "common/status_macros.h"
#include "common/unique_fd.h"
#include "image/client_detection.h"
#include "protocol/pmix/pmix_uri.h"

extern char** environ;

namespace pmi_shim::exec {

using image::DetectClientFamily;
using image::DetectImageClientFamily;
using image::ImageDirectoryOf;
namespace {

std::vector<std::string> CurrentEnvironment() {
  std::vector<std::string> env;
  for (char** entry = environ; entry != nullptr && *entry != nullptr; ++entry) {
    env.emplace_back(*entry);
  }
  return env;
}

// The value of `name` in `environment`, or `otherwise`.
std::string ValueOf(const std::vector<std::string>& environment, absl::string_view name,
                    std::string otherwise) {
  for (const std::string& entry : environment) {
    if (absl::StartsWith(entry, name) && entry.size() > name.size() && entry[name.size()] == '=') {
      return entry.substr(name.size() + 1);
    }
  }
  return otherwise;
}

// Blocking write of all of `text`; false on error (errno set).
bool WriteAll(int fd, const std::string& text) {
  size_t done = 0;
  while (done < text.size()) {
    const ssize_t n = ::write(fd, text.data() + done, text.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    done += static_cast<size_t>(n);
  }
  return true;
}

// Sets `name` in `environment`, replacing an earlier entry.
void SetVariable(std::vector<std::string>& environment, absl::string_view name,
                 absl::string_view value) {
  const std::string entry = absl::StrCat(name, "=", value);
  for (std::string& existing : environment) {
    if (absl::StartsWith(existing, name) && existing.size() > name.size() &&
        existing[name.size()] == '=') {
      existing = entry;
      return;
    }
  }
  environment.push_back(entry);
}

// The job's size as a PMIx launcher tells its ranks outside PMIx (Open MPI's
// mpirun and PRRTE, Slurm, Flux), or nullopt.
std::optional<int> JobSizeFromLauncher(const std::vector<std::string>& environment) {
  for (const char* name :
       {"OMPI_COMM_WORLD_SIZE", "SLURM_STEP_NUM_TASKS", "SLURM_NTASKS", "FLUX_JOB_SIZE"}) {
    int size = 0;
    if (absl::SimpleAtoi(ValueOf(environment, name, ""), &size) && size > 0) return size;
  }
  return std::nullopt;
}

// Names the v1.2 endpoint's directory to the container (see PmixV1Request).
constexpr char kPmixV1TmpdirVariable[] = "PMIX_SERVER_TMPDIR";

session::ClientProtocols WireProtocols(DownstreamChoice choice) {
  switch (choice) {
    case DownstreamChoice::kPmi1:
      return session::ClientProtocols::kPmi1Only;
    case DownstreamChoice::kPmi2:
      return session::ClientProtocols::kPmi2Only;
    default:
      return session::ClientProtocols::kAny;
  }
}

}  // namespace

RankPlan PlanRank(DownstreamChoice choice, upstream::HostFamily host, bool publish,
                  bool command_is_engine, std::optional<ClientFamily> detected) {
  const ClientFamily host_family =
      host == upstream::HostFamily::kPmix ? ClientFamily::kPmix : ClientFamily::kPmi;
  std::optional<ClientFamily> named;  // what the user or the program says
  if (choice == DownstreamChoice::kPmixV1 ||
      (choice == DownstreamChoice::kAuto && detected == ClientFamily::kPmixV1)) {
    // The native v1.2 endpoint (its own rank directory kind): nothing else.
    RankPlan plan;
    plan.preferred = ClientFamily::kPmixV1;
    if (!(publish && command_is_engine)) plan.direct = ClientFamily::kPmixV1;
    return plan;
  }
  if (choice != DownstreamChoice::kAuto) {
    named = choice == DownstreamChoice::kPmix ? ClientFamily::kPmix : ClientFamily::kPmi;
  } else {
    named = detected;
  }
  RankPlan plan;
  plan.preferred = named.value_or(host_family);
  if (!(publish && command_is_engine)) plan.direct = plan.preferred;
  if (publish) {
    plan.publish_pmi = !named.has_value() || *named == ClientFamily::kPmi;
    plan.publish_pmix = !named.has_value() || *named == ClientFamily::kPmix;
  }
  return plan;
}

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
  // Servers and relays refer to the host and the loop: they go first.
  server_.reset();
  node_member_.reset();
  pmix_waiters_.clear();
  pmix_v1_server_.reset();
  if (!pmix_v1_directory_.empty()) ::rmdir(pmix_v1_directory_.c_str());
  relay_.reset();
  pmix_socket_relay_.reset();
  if (request_listener_.valid()) loop_.Unwatch(request_listener_.get());
  request_listener_.Reset();
  rank_directory_.reset();
  deferred_host_.reset();
  reporting_host_.reset();
  pmix_reporting_host_.reset();
  collecting_host_.reset();
  host_.reset();
  transcript_.reset();
  if (transcript_file_ != nullptr && transcript_file_ != stderr) std::fclose(transcript_file_);
}

absl::Status BridgedRank::ConnectUpstream(const upstream::HostEndpoint& endpoint) {
  if (endpoint.family == upstream::HostFamily::kPmix) {
    upstream::PmixClientHost::Options pmix_options;
    pmix_options.on_upstream_lost = [this](const std::string& reason) { OnUpstreamLost(reason); };
    ASSIGN_OR_RETURN(std::unique_ptr<upstream::PmixClientHost> host,
                     upstream::PmixClientHost::Connect(loop_, std::move(pmix_options)));
    rank_ = host->rank();
    host_ = std::move(host);
    return absl::OkStatus();
  }
  upstream::PmiWireHost::Options host_options;
  host_options.on_upstream_lost = [this](std::string reason) { OnUpstreamLost(std::move(reason)); };
  if (options_.trace || transcript_ != nullptr) {
    host_options.trace = [this](bool to_host, const wire::Message& message) {
      const std::string line =
          absl::StrCat(to_host ? "host <- " : "host -> ", message.DebugString());
      if (options_.trace) log::Debug(line);
      if (transcript_ != nullptr) transcript_->Note(absl::Now(), rank_, line);
    };
  }
  ASSIGN_OR_RETURN(
      std::unique_ptr<upstream::PmiWireHost> host,
      upstream::PmiWireHost::Connect(loop_, endpoint, endpoint.protocol, std::move(host_options)));
  rank_ = host->rank();
  host_ = std::move(host);
  return absl::OkStatus();
}

downstream::ServerOptions BridgedRank::PmiServerOptions() {
  downstream::ServerOptions server_options;
  server_options.protocols = WireProtocols(options_.downstream);
  server_options.trace = options_.trace;
  if (transcript_ != nullptr) {
    server_options.observer = [this](std::optional<int> rank, bool from_client,
                                     const wire::Message& message) {
      transcript_->Record(
          absl::Now(), rank.value_or(rank_),
          from_client ? diagnose::Direction::kClientToServer : diagnose::Direction::kServerToClient,
          message, message.DebugString());
    };
  }
  return server_options;
}

void BridgedRank::StartPmixSide() {
  if (pmix_side_ != PmixSide::kNone) return;
  pmix_side_ = PmixSide::kStarting;
  // Another node's server needs this node's name, and without a mapping the
  // layout itself comes from every rank's hostname: both through the host's
  // KVS, before anyone joins its node.
  node::RunStartupExchange(*pmix_reporting_host_, rank_, node::LocalHostname(),
                           [this](absl::StatusOr<node::NodePlan> plan) {
                             if (!plan.ok()) {
                               OnPmixSideReady(plan.status());
                               return;
                             }
                             node_plan_ = *std::move(plan);
                             JoinNode();
                           });
}

void BridgedRank::JoinNode() {
  if (command_status_.has_value()) {  // asked for, but CMD has ended meanwhile
    OnPmixSideReady(absl::CancelledError(absl::StrCat(options_.command.front(), " has ended")));
    return;
  }
  node::JoinOptions join;
  // Beside the rank directory, wherever that went (Publish's fallback).
  join.root = !published_root_.empty()        ? published_root_
              : options_.publish_root.empty() ? DefaultPublishRoot()
                                              : options_.publish_root;
  join.verbosity = log::Verbosity();
  node::NodeMember::Events events;
  events.welcome = [this](absl::StatusOr<std::vector<std::string>> pmix) {
    if (pmix.ok()) pmix_entries_ = *std::move(pmix);
    OnPmixSideReady(pmix.status());
  };
  events.bye = [this] { FinishSoon(); };
  events.lost = [this](std::string why) { OnNodeLost(std::move(why)); };
  events.rank_alive = [this] { return CommandRunning(); };
  absl::StatusOr<std::unique_ptr<node::NodeMember>> member = node::NodeMember::Join(
      loop_, *pmix_reporting_host_, *node_plan_, std::move(join), std::move(events));
  if (!member.ok()) {
    OnPmixSideReady(member.status());
    return;
  }
  node_member_ = *std::move(member);
}

void BridgedRank::OnPmixSideReady(absl::Status status) {
  if (pmix_side_ != PmixSide::kStarting) return;
  if (status.ok()) {
    absl::StatusOr<pmix::RewrittenEnvironment> server =
        pmix::RewritePmixServerUris(pmix_entries_, "127.0.0.1", 1);
    if (server.ok()) {
      pmix_port_ = server->original.port;
    } else {
      status = server.status();
    }
  }
  // Asked for on request.sock: the rank directory exists already.
  if (status.ok() && rank_directory_ != nullptr && plan_.publish_pmix) {
    status = StartPmixSocketRelay();
  }
  pmix_side_ = status.ok() ? PmixSide::kReady : PmixSide::kFailed;
  pmix_failure_ = status;
  if (!child_started_) {
    // CMD links PMIx: it starts with its PMIx environment.
    absl::Status started = status.ok() ? StartCommand() : status;
    if (!started.ok()) FailStart(std::move(started));
  } else if (!status.ok()) {
    log::Error(
        absl::StrCat("rank ", rank_, ": cannot serve PMIx to the container: ", status.message()));
  } else {
    log::Debug(absl::StrCat("rank ", rank_, ": a PMIx client asked; joined the node's PMIx ",
                            "server", node_member_->started_server() ? " (started it)" : ""));
  }
  std::vector<UniqueFd> waiters = std::move(pmix_waiters_);
  pmix_waiters_.clear();
  for (UniqueFd& waiter : waiters) {
    Reply(waiter.get(), status.ok() ? absl::StatusOr<rendezvous::EnvEntries>(PmixEntries())
                                    : absl::StatusOr<rendezvous::EnvEntries>(status));
  }
}

void BridgedRank::OnNodeLost(std::string why) {
  if (leaving_node_) {  // no bye: end anyway
    FinishSoon();
    return;
  }
  if (pmix_side_ == PmixSide::kStarting) {  // before the welcome
    OnPmixSideReady(absl::UnavailableError(why));
    return;
  }
  if (forced_status_.has_value() || command_status_.has_value()) return;
  if (child_started_) {
    // The command's PMIx server is gone: its rank cannot go on.
    RankReportingHost()->Lost(rank_, absl::StrCat("rank ", rank_, ": ", why));
    forced_status_ = 1;
    children_.TerminateAll(options_.kill_grace);
    return;
  }
  FailStart(absl::UnavailableError(why));
}

void BridgedRank::FailStart(absl::Status why) {
  if (!start_failure_.ok()) return;
  ReportStartFailure(why);
  start_failure_ = std::move(why);
  loop_.Stop();
}

void BridgedRank::ReportStartFailure(const absl::Status& why) {
  // The host saw this rank initialize: tell it the rank is gone.
  ReportingHost* reporting = RankReportingHost();
  if (host_ != nullptr && reporting != nullptr && !start_reported_) {
    start_reported_ = true;
    reporting->Lost(rank_, absl::StrCat("rank ", rank_, ": ", why.message()));
  }
}

ReportingHost* BridgedRank::RankReportingHost() const {
  return reporting_host_ != nullptr ? reporting_host_.get() : pmix_reporting_host_.get();
}

absl::Status BridgedRank::StartPmixSocketRelay() {
  // pmix.sock: for a container that cannot reach 127.0.0.1:PORT and has
  // nothing privileged to relay it, pmi-shim-client relays through this.
  ASSIGN_OR_RETURN(UniqueFd listener, ListenUnix(rank_directory_->PmixSocketPath()));
  downstream::TcpRelay::Options relay_options;
  relay_options.listener_fd = listener.Release();
  relay_options.target_port = pmix_port_;
  relay_options.present_peer_identity = true;  // for clients in a user namespace
  ASSIGN_OR_RETURN(pmix_socket_relay_, downstream::TcpRelay::Start(loop_, relay_options));
  return absl::OkStatus();
}

rendezvous::EnvEntries BridgedRank::PmixEntries() const {
  rendezvous::EnvEntries entries;
  for (const std::string& entry : pmix_entries_) {
    const size_t equals = entry.find('=');
    if (equals != std::string::npos) {
      entries.emplace_back(entry.substr(0, equals), entry.substr(equals + 1));
    }
  }
  return entries;
}

absl::Status BridgedRank::CreateRankDirectory(const std::string& job) {
  const std::string root =
      options_.publish_root.empty() ? DefaultPublishRoot() : options_.publish_root;
  absl::StatusOr<std::unique_ptr<RankDirectory>> created = RankDirectory::Create(root, job, rank_);
  std::string used_root = root;
  // The default root may be read-only here (a sandbox, a read-only /run):
  // the per-user one under /tmp is the hook's other default allowed place.
  const std::string per_user = absl::StrCat("/tmp/pmi-shim-", ::getuid());
  if (!created.ok() && options_.publish_root.empty() && std::getenv("PMI_SHIM_RUNDIR") == nullptr &&
      root != per_user) {
    absl::StatusOr<std::unique_ptr<RankDirectory>> fallback =
        RankDirectory::Create(per_user, job, rank_);
    if (fallback.ok()) {
      created = std::move(fallback);
      used_root = per_user;
    }
  }
  if (!created.ok()) return created.status();
  rank_directory_ = *std::move(created);
  published_root_ = used_root;
  return absl::OkStatus();
}

absl::Status BridgedRank::Publish(const std::string& job, std::optional<int> size) {
  RETURN_IF_ERROR(CreateRankDirectory(job));
  const char* preferred = plan_.preferred == ClientFamily::kPmix           ? "pmix"
                          : options_.downstream == DownstreamChoice::kPmi1 ? "pmi1"
                          : options_.downstream == DownstreamChoice::kPmi2 ? "pmi2"
                                                                           : "pmi";
  std::vector<std::string> offers;
  if (plan_.publish_pmi) offers.push_back("pmi");
  if (plan_.publish_pmix) offers.push_back("pmix");
  rendezvous::EnvEntries entries = {{rendezvous::kProtocolKey, preferred},
                                    {rendezvous::kOffersKey, absl::StrJoin(offers, ",")}};
  if (plan_.publish_pmi) {
    RETURN_IF_ERROR(server_->ListenUnixForRank(rank_directory_->SocketPath(), rank_));
    entries.emplace_back(rendezvous::kRankKey, absl::StrCat(rank_));
    // Unknown only under a PMIx launcher that does not say: request.sock
    // answers it, joining the job first.
    if (size.has_value()) entries.emplace_back(rendezvous::kSizeKey, absl::StrCat(*size));
  }
  if (plan_.publish_pmix && pmix_port_ > 0) {
    RETURN_IF_ERROR(StartPmixSocketRelay());
    for (auto& entry : PmixEntries()) entries.push_back(std::move(entry));
  }
  // Which socket the PMI_FD handed to CMD is, so that pmi-shim-client can
  // tell it from whatever holds that number inside a container.
  struct stat fd_stat;
  if (child_fd_.valid() && ::fstat(child_fd_.get(), &fd_stat) == 0) {
    entries.emplace_back(rendezvous::kFdInodeKey, absl::StrCat(fd_stat.st_ino));
  }
  for (auto& fact : HostSharingFacts()) entries.push_back(std::move(fact));
  RETURN_IF_ERROR(ListenForRequests());
  return rank_directory_->WriteEnv(entries);
}

absl::Status BridgedRank::ListenForRequests() {
  const std::string path =
      absl::StrCat(rank_directory_->path(), "/", rendezvous::kRequestSocketName);
  ASSIGN_OR_RETURN(request_listener_, ListenUnix(path));
  return loop_.Watch(request_listener_.get(), EPOLLIN, [this](uint32_t) { AcceptRequests(); });
}

void BridgedRank::AcceptRequests() {
  while (true) {
    UniqueFd client(::accept4(request_listener_.get(), nullptr, nullptr, SOCK_CLOEXEC));
    if (!client.valid()) {
      if (errno == EINTR) continue;
      return;  // EAGAIN: all taken
    }
    absl::StatusOr<ucred> peer = PeerCredentials(client.get());
    if (!peer.ok() || (peer->uid != ::getuid() && peer->uid != 0)) {
      log::Warning(absl::StrCat(
          "rank ", rank_, ": refused a request from ",
          peer.ok() ? absl::StrCat("uid ", peer->uid) : std::string(peer.status().message()),
          "; only the job's own user may ask for its rank"));
      continue;
    }
    // The client writes its one line right after connecting; a silent one
    // holds the loop for at most this long.
    const timeval limit{2, 0};
    ::setsockopt(client.get(), SOL_SOCKET, SO_RCVTIMEO, &limit, sizeof(limit));
    ::setsockopt(client.get(), SOL_SOCKET, SO_SNDTIMEO, &limit, sizeof(limit));
    std::string request;
    char byte = 0;
    while (request.size() < 16 && ::read(client.get(), &byte, 1) == 1 && byte != '\n') {
      request.push_back(byte);
    }
    if (request == "pmix" && plan_.publish_pmix && !pmix_host_ &&
        (pmix_side_ == PmixSide::kNone || pmix_side_ == PmixSide::kStarting)) {
      // Answered once the node's server has welcomed this rank (the client
      // waits for up to 30 s); a hostname exchange waits for every rank.
      pmix_waiters_.push_back(std::move(client));
      StartPmixSide();
      continue;
    }
    Reply(client.get(), AnswerRequest(request));
  }
}

void BridgedRank::Reply(int client, const absl::StatusOr<rendezvous::EnvEntries>& reply) {
  if (!WriteAll(client, rendezvous::FormatRequestReply(reply))) {
    log::Warning(absl::StrCat("rank ", rank_, ": could not answer a request on ",
                              rendezvous::kRequestSocketName, ": ", std::strerror(errno)));
  }
}

absl::StatusOr<rendezvous::EnvEntries> BridgedRank::AnswerRequest(const std::string& request) {
  if (request == "pmix") {
    if (!plan_.publish_pmix) {
      return absl::FailedPreconditionError(
          "this rank serves only PMI-1/PMI-2 (pmi-bridge exec --downstream pmi1|pmi2)");
    }
    if (pmix_side_ == PmixSide::kFailed) return pmix_failure_;
    return PmixEntries();
  }
  if (request == "pmi") {
    if (!plan_.publish_pmi) {
      return absl::FailedPreconditionError(
          "this rank serves only PMIx (pmi-bridge exec --downstream pmix)");
    }
    if (deferred_host_ != nullptr) RETURN_IF_ERROR(deferred_host_->Ensure());
    return rendezvous::EnvEntries{{rendezvous::kRankKey, absl::StrCat(rank_)},
                                  {rendezvous::kSizeKey, absl::StrCat(host_->info().size)}};
  }
  return absl::InvalidArgumentError(
      absl::StrCat("unknown request '", request.substr(0, 16), "' (expected pmi or pmix)"));
}

absl::Status BridgedRank::RewriteForEngine(launch::SpawnRequest& request) const {
  engines::EngineContext context;
  context.rank_dir = rank_directory_->path();
  context.tools_dir = options_.tools_dir;
  context.env = {{rendezvous::kDirVariable, rank_directory_->path()}};
  if (pmix_v1_server_ != nullptr && !pmix_v1_directory_.empty()) {
    context.env.emplace_back(kPmixV1TmpdirVariable, pmix_v1_directory_);
  }
  context.image = LookIntoImage(request.argv, context);
  absl::StatusOr<engines::Rewrite> rewritten = engines::RewriteEngineCommand(request.argv, context);
  if (!rewritten.ok() && engines::IsEngineAlias(request.argv.front())) {
    // A wrapper with options of its own: run it as given; PMI_SHIM_DIR is
    // in its environment for it (or the site's hook) to pass in.
    log::Info(absl::StrCat(request.argv.front(), " is run as given (", rewritten.status().message(),
                           ")"));
    return absl::OkStatus();
  }
  ASSIGN_OR_RETURN(engines::Rewrite rewrite, std::move(rewritten));
  for (const std::string& note : rewrite.notes) log::Info(note);
  if (!rewrite.carry_client_to.empty()) {
    RETURN_IF_ERROR(CarryClient(options_.tools_dir, rewrite.carry_client_to));
  }
  if (rewrite.engine != engines::Engine::kNone) {
    log::Debug(absl::StrCat("rank ", rank_, " runs: ", absl::StrJoin(rewrite.argv, " ")));
    request.argv = std::move(rewrite.argv);
  }
  return absl::OkStatus();
}

absl::StatusOr<int> BridgedRank::Run() {
  if (options_.command.empty()) return absl::InvalidArgumentError("no command to run");
  const std::vector<std::string> environment = CurrentEnvironment();
  ASSIGN_OR_RETURN(upstream::HostEndpoint endpoint,
                   upstream::DetectHostEndpoint(environment, options_.upstream));
  for (const std::string& warning : endpoint.warnings) log::Warning(warning);
  const bool pmix_host = endpoint.family == upstream::HostFamily::kPmix;
  const std::optional<ClientFamily> detected = DetectCommandClient(environment);
  const RankPlan plan = PlanRank(options_.downstream, endpoint.family, options_.publish,
                                 options_.command_is_engine, detected);
  LogAutoChoice(plan, detected, pmix_host);
  // Block SIGCHLD and friends before libpmix starts its progress thread
  // (PMIx_Init, PMIx_server_init): a thread created with them unblocked can
  // take the SIGCHLD that the signalfd is waiting for, and the command would
  // never be reaped.
  RETURN_IF_ERROR(children_.Start());
  RETURN_IF_ERROR(OpenTranscript());
  plan_ = plan;
  pmix_host_ = pmix_host;
  environment_ = environment;
  if (plan.preferred == ClientFamily::kPmixV1) {
    RETURN_IF_ERROR(SetUpForPmixV1(endpoint));
  } else if (!pmix_host) {
    RETURN_IF_ERROR(SetUpUnderPmiHost(endpoint));
  } else {
    RETURN_IF_ERROR(SetUpUnderPmixHost(endpoint));
  }
  if (!pmix_host && plan.direct == ClientFamily::kPmix) {
    // CMD is started once its node's PMIx server has welcomed this rank.
    StartPmixSide();
  } else {
    RETURN_IF_ERROR(StartCommand());
  }
  // A start that failed before the loop runs (Run clears a Stop).
  RETURN_IF_ERROR(start_failure_);
  RETURN_IF_ERROR(loop_.Run());
  RETURN_IF_ERROR(start_failure_);
  if (forced_status_.has_value()) return *forced_status_;
  return command_status_.value_or(1);
}

std::optional<ClientFamily> BridgedRank::DetectCommandClient(
    const std::vector<std::string>& environment) const {
  // --downstream auto: a program run directly tells by what it links; a
  // container engine's image is read on the container side instead
  // (pmi-shim-client picks pmi.sock or pmix.sock), except that an image the
  // command names by its directory (an OCI bundle or a rootfs; an engine's
  // or a wrapper script's argument) is read here for a PMIx v1.x client,
  // which only the bridge's own endpoint serves.
  std::optional<ClientFamily> detected;
  if (options_.downstream == DownstreamChoice::kAuto && !options_.command_is_engine) {
    absl::StatusOr<std::string> program =
        launch::ResolveExecutable(options_.command.front(), environment);
    if (program.ok()) detected = DetectClientFamily(*program);
  }
  if (options_.downstream == DownstreamChoice::kAuto && !detected.has_value() && options_.publish) {
    if (std::optional<std::string> image = ImageDirectoryOf(options_.command)) {
      // Only a v1.x client changes what is served here; any other image
      // keeps both sides offered for pmi-shim-client to choose from.
      if (DetectImageClientFamily(*image) == ClientFamily::kPmixV1) {
        detected = ClientFamily::kPmixV1;
        log::Debug(absl::StrCat("read the image at ", *image, ": a PMIx v1.x client"));
      }
    }
  }
  return detected;
}

void BridgedRank::LogAutoChoice(const RankPlan& plan, std::optional<ClientFamily> detected,
                                bool pmix_host) const {
  if (detected == ClientFamily::kPmixV1 && plan.preferred == ClientFamily::kPmixV1) {
    log::Info(absl::StrCat(options_.command.front(),
                           " links a PMIx v1.2 client: serving it the native PMIx v1.2 (usock) "
                           "endpoint (--downstream auto)"));
  } else if (detected.has_value() && (*detected == ClientFamily::kPmix) != pmix_host) {
    const bool pmix_client = *detected == ClientFamily::kPmix;
    log::Info(absl::StrCat(options_.command.front(), " links a ",
                           pmix_client ? "PMIx" : "PMI-1/PMI-2", " client: serving it ",
                           pmix_client ? "a PMIx server" : "PMI", " (--downstream auto)"));
  }
}

absl::Status BridgedRank::OpenTranscript() {
  if (options_.trace_file.empty()) return absl::OkStatus();
  transcript_file_ =
      options_.trace_file == "-" ? stderr : std::fopen(options_.trace_file.c_str(), "a");
  if (transcript_file_ == nullptr) {
    return absl::ErrnoToStatus(
        errno, absl::StrCat("cannot open the transcript file ", options_.trace_file));
  }
  transcript_ = std::make_unique<diagnose::Transcript>(
      transcript_file_, diagnose::Transcript::Format::kHuman, absl::Now());
  return absl::OkStatus();
}

absl::Status BridgedRank::SetUpForPmixV1(const upstream::HostEndpoint& endpoint) {
  // The v1.2 endpoint does its rank's host work itself (fences, direct
  // gets through the host's KVS), under either family of host.
  RETURN_IF_ERROR(ConnectUpstream(endpoint));
  reporting_host_ = std::make_unique<ReportingHost>(*host_);
  job_ = host_->info().kvsname;
  size_ = host_->info().size;
  return absl::OkStatus();
}

absl::Status BridgedRank::SetUpUnderPmiHost(const upstream::HostEndpoint& endpoint) {
  const bool serve_pmi = plan_.direct == ClientFamily::kPmi || plan_.publish_pmi;
  const bool serve_pmix = plan_.direct == ClientFamily::kPmix || plan_.publish_pmix;
  RETURN_IF_ERROR(ConnectUpstream(endpoint));
  job_ = host_->info().kvsname;
  size_ = host_->info().size;
  if (serve_pmi) {
    // A PMI host's barrier collects nothing by itself; a PMIx server's
    // modex already does.
    collecting_host_ = std::make_unique<CollectingHost>(*host_, rank_);
    reporting_host_ = std::make_unique<ReportingHost>(*collecting_host_);
    server_ = std::make_unique<downstream::PmiServer>(loop_, *reporting_host_, PmiServerOptions());
  }
  // The PMIx side is the node's PMIx server (bridge/node), which this
  // rank joins only when CMD links PMIx, or when a container's client asks
  // for it (request.sock): a container that may not need it costs nothing.
  if (serve_pmix) pmix_reporting_host_ = std::make_unique<ReportingHost>(*host_);
  return absl::OkStatus();
}

absl::Status BridgedRank::SetUpUnderPmixHost(const upstream::HostEndpoint& endpoint) {
  const std::vector<std::string>& environment = environment_;
  const RankPlan& plan = plan_;
  const bool serve_pmix = plan.direct == ClientFamily::kPmix || plan.publish_pmix;
  // The launcher's word, before (or without) joining the job.
  if (!absl::SimpleAtoi(ValueOf(environment, "PMIX_RANK", ""), &rank_)) {
    return absl::InvalidArgumentError("PMIX_RANK is not set to a number by the launcher");
  }
  job_ = ValueOf(environment, "PMIX_NAMESPACE", "pmix");
  size_ = JobSizeFromLauncher(environment);
  const bool forced_pmi = options_.downstream == DownstreamChoice::kPmi1 ||
                          options_.downstream == DownstreamChoice::kPmi2;
  if (plan.direct == ClientFamily::kPmi || forced_pmi) {
    RETURN_IF_ERROR(ConnectUpstream(endpoint));
    reporting_host_ = std::make_unique<ReportingHost>(*host_);
    size_ = host_->info().size;
    server_ = std::make_unique<downstream::PmiServer>(loop_, *reporting_host_, PmiServerOptions());
  } else if (plan.publish_pmi) {
    // Joined only if the container's client turns out to speak PMI: a
    // PMIx client goes through the relay as the rank itself.
    deferred_host_ =
        std::make_unique<DeferredHost>([this, endpoint]() -> absl::StatusOr<session::JobHost*> {
          RETURN_IF_ERROR(ConnectUpstream(endpoint));
          reporting_host_ = std::make_unique<ReportingHost>(*host_);
          log::Debug(absl::StrCat("rank ", rank_,
                                  ": a PMI client connected pmi.sock; joined "
                                  "the PMIx job to serve it"));
          return reporting_host_.get();
        });
    downstream::ServerOptions server_options = PmiServerOptions();
    server_options.before_serving = [this] { return deferred_host_->Ensure(); };
    server_ = std::make_unique<downstream::PmiServer>(loop_, *deferred_host_, server_options);
  }
  if (serve_pmix) {
    ASSIGN_OR_RETURN(pmix::RewrittenEnvironment probe,
                     pmix::RewritePmixServerUris(environment, "127.0.0.1", 1));
    if (probe.original.scheme != "tcp4") {
      return absl::UnimplementedError(absl::StrCat("the PMIx server listens on ",
                                                   probe.original.ToString(),
                                                   "; the relay reaches IPv4 servers only"));
    }
    pmix_port_ = probe.original.port;
    for (const std::string& entry : environment) {
      if (absl::StartsWith(entry, "PMIX_")) pmix_entries_.push_back(entry);
    }
    if (plan.direct == ClientFamily::kPmix) {
      downstream::TcpRelay::Options relay_options;
      relay_options.target_address = probe.original.host;
      relay_options.target_port = probe.original.port;
      ASSIGN_OR_RETURN(relay_, downstream::TcpRelay::Start(loop_, relay_options));
    }
  }
  return absl::OkStatus();
}

absl::Status BridgedRank::StartCommand() {
  absl::StatusOr<launch::SpawnRequest> request = CommandRequest();
  absl::Status started = request.status();
  if (started.ok() && rank_directory_ != nullptr) started = RewriteForEngine(*request);
  if (started.ok()) {
    // The launcher above ends a rank by killing its process group, and may
    // kill only the bridge: the command must share the group and die with it.
    request->own_process_group = false;
    request->parent_death_signal = SIGKILL;
    absl::StatusOr<pid_t> pid = children_.Spawn(0, *request);
    started = pid.status();
    if (pid.ok()) command_pid_ = *pid;
  }
  child_fd_.Reset();  // the child has its copy now
  if (!started.ok()) {
    ReportStartFailure(started);
    return started;
  }
  child_started_ = true;
  return absl::OkStatus();
}

absl::StatusOr<launch::SpawnRequest> BridgedRank::CommandRequest() {
  if (plan_.preferred == ClientFamily::kPmixV1) return PmixV1Request();
  // What CMD itself gets.
  std::vector<std::string> command_environment;
  if (plan_.direct == ClientFamily::kPmi) {
    int pair[2];
    if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair) != 0) {
      return absl::ErrnoToStatus(errno, "socketpair");
    }
    // The child's end stays open in the bridge until the child has it.
    child_fd_.Reset(pair[1]);
    RETURN_IF_ERROR(server_->AddConnectedClient(UniqueFd(pair[0]), rank_));
    launch::Rendezvous rendezvous;
    rendezvous.rank = rank_;
    rendezvous.size = size_.value_or(1);
    rendezvous.fd = child_fd_.get();
    command_environment = launch::BuildRankEnvironment(environment_, rendezvous);
  } else if (plan_.direct == ClientFamily::kPmix) {
    if (!pmix_host_) {
      command_environment = launch::BuildPmixRankEnvironment(environment_, pmix_entries_);
    } else {
      ASSIGN_OR_RETURN(pmix::RewrittenEnvironment rewritten,
                       pmix::RewritePmixServerUris(environment_, "127.0.0.1", relay_->port()));
      command_environment = std::move(rewritten.environment);
    }
  } else if (plan_.preferred == ClientFamily::kPmi && size_.has_value()) {
    // A container engine: only the rank directory (added below) crosses.
    launch::Rendezvous rendezvous;
    rendezvous.rank = rank_;
    rendezvous.size = *size_;
    rendezvous.shim_dir = "-";  // replaced below
    command_environment = launch::BuildRankEnvironment(environment_, rendezvous);
  } else {
    command_environment = launch::BuildPmixRankEnvironment(environment_, {});
  }
  if (options_.publish) {
    absl::Status published = Publish(job_, size_);
    if (!published.ok() && (options_.publish_required || !plan_.direct.has_value())) {
      return published;
    }
    if (!published.ok()) {
      // A bare program does not need the directory: no warning for it.
      log::Info(absl::StrCat("rank ", rank_, ": no rank directory (", published.message(), "); ",
                             options_.command.front(), " gets its PMI rendezvous directly"));
      rank_directory_.reset();
    }
  }
  if (rank_directory_ != nullptr) {
    SetVariable(command_environment, rendezvous::kDirVariable, rank_directory_->path());
  }
  return launch::SpawnRequest{options_.command, std::move(command_environment),
                              child_fd_.valid() ? child_fd_.get() : -1};
}

absl::StatusOr<launch::SpawnRequest> BridgedRank::PmixV1Request() {
  downstream::PmixV1Server::Options v1_options;
  v1_options.rank = rank_;
  v1_options.trace = options_.trace;
  if (options_.publish) {
    // The socket and the store go into RANKDIR/pmix-v1, named to the
    // container as PMIX_SERVER_TMPDIR: pmi-shim-hook mounts that directory
    // read-write at the same path (a v1.2 client opens the store's lock
    // read-write, which the read-only rank directory mount would refuse),
    // and bind-mount engines carry the rank directory at its host path.
    absl::Status created = CreateRankDirectory(job_);
    if (!created.ok() && (options_.publish_required || !plan_.direct.has_value())) {
      return created;
    }
    if (created.ok()) {
      v1_options.directory = absl::StrCat(rank_directory_->path(), "/pmix-v1");
      if (::mkdir(v1_options.directory.c_str(), 0700) != 0) {
        return absl::ErrnoToStatus(errno, absl::StrCat("mkdir ", v1_options.directory));
      }
      pmix_v1_directory_ = v1_options.directory;  // removed before the rank directory
    } else {
      log::Info(absl::StrCat("rank ", rank_, ": no rank directory (", created.message(), "); ",
                             options_.command.front(), " gets its PMIx v1.2 rendezvous directly"));
    }
  }
  ASSIGN_OR_RETURN(pmix_v1_server_,
                   downstream::PmixV1Server::Start(loop_, *reporting_host_, v1_options));
  std::vector<std::string> v1_environment = pmix_v1_server_->ClientEnvironment();
  // What makes an Open MPI app join a PMIx job instead of starting as a
  // singleton (pmix_server.h, ClientEnvironment), for Open MPI 2.x too.
  v1_environment.emplace_back("OMPI_MCA_schizo=ompi");
  std::vector<std::string> command_environment;
  if (rank_directory_ != nullptr) {
    rendezvous::EnvEntries entries = {{rendezvous::kProtocolKey, "pmix1"}};
    for (const std::string& entry : v1_environment) {
      const size_t equals = entry.find('=');
      entries.emplace_back(entry.substr(0, equals), entry.substr(equals + 1));
    }
    for (auto& fact : HostSharingFacts()) entries.push_back(std::move(fact));
    RETURN_IF_ERROR(rank_directory_->WriteEnv(entries));
  }
  // A container engine gets only the rank directory and the endpoint's
  // directory; anything else (maybe a wrapper around an engine) the
  // endpoint's environment too.
  command_environment = launch::BuildPmixRankEnvironment(
      environment_, plan_.direct.has_value() ? v1_environment : std::vector<std::string>{});
  if (rank_directory_ != nullptr) {
    SetVariable(command_environment, rendezvous::kDirVariable, rank_directory_->path());
    SetVariable(command_environment, kPmixV1TmpdirVariable, v1_options.directory);
  }
  return launch::SpawnRequest{options_.command, std::move(command_environment), -1};
}

bool BridgedRank::CommandRunning() const {
  if (command_status_.has_value() || command_pid_ <= 0) return false;
  // Not reaped yet, but maybe dead already (a zombie): look without reaping.
  siginfo_t info{};
  if (::waitid(P_PID, static_cast<id_t>(command_pid_), &info, WEXITED | WNOHANG | WNOWAIT) != 0) {
    return true;  // not ours to tell: assume it runs
  }
  return info.si_pid == 0;
}

bool BridgedRank::ClientSpoke() const {
  if (pmix_v1_server_ != nullptr) return pmix_v1_server_->Connected();
  return (node_member_ != nullptr && node_member_->client_spoke()) ||
         (server_ != nullptr && server_->RankSpoke(rank_));
}

void BridgedRank::OnCommandExit(int wait_status) {
  command_status_ = launch::ExitStatusOf(wait_status);
  if (WIFSIGNALED(wait_status) && !forced_status_.has_value()) {
    command_signal_ = WTERMSIG(wait_status);
  }
  if (forced_status_.has_value() || host_ == nullptr) {  // ended by us, or a plain relay
    loop_.Stop();
    return;
  }
  // libpmix does not notice a client that vanished; tell the node's server,
  // which reports the loss back to this bridge's host (and so aborts the job
  // upstream) before its bye.
  if (node_member_ != nullptr) node_member_->Exited(launch::DescribeExit(wait_status));
  if (pmix_v1_server_ != nullptr) pmix_v1_server_->RankExited(launch::DescribeExit(wait_status));
  // A command that never used PMI (a wrapper that failed, a plain tool) did
  // not finalize; do it for its rank if it succeeded, so the host does not
  // abort the job for a rank that simply had nothing to say.
  ReportingHost* reporting = RankReportingHost();
  if (!ClientSpoke() && *command_status_ == 0 && reporting != nullptr) {
    reporting->Finalized(rank_);
  }
  if (node_member_ != nullptr) {
    // The last bridge of a node waits until the node is clean (bye).
    leaving_node_ = true;
    node_member_->Leave();
    loop_.AddTimer(options_.finalize_wait + absl::Seconds(3), [this] { FinishSoon(); });
    return;
  }
  FinishSoon();
}

void BridgedRank::FinishSoon() {
  if (finishing_) return;
  finishing_ = true;
  // Let the host hear the finalize (or the abort sent for a lost client)
  // before the bridge exits and its connection closes.
  WaitForIdleHost(absl::Now() + options_.finalize_wait);
}

void BridgedRank::WaitForIdleHost(absl::Time deadline) {
  if (host_->Idle() || absl::Now() >= deadline) {
    loop_.Stop();
    return;
  }
  loop_.AddTimer(absl::Milliseconds(5), [this, deadline] { WaitForIdleHost(deadline); });
}

void BridgedRank::OnUpstreamLost(std::string reason) {
  if (forced_status_.has_value()) return;
  log::Error(absl::StrCat("rank ", rank_, ": ", reason, "; ending ", options_.command.front()));
  if (reporting_host_ != nullptr) reporting_host_->Quiet();
  if (pmix_reporting_host_ != nullptr) pmix_reporting_host_->Quiet();
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
