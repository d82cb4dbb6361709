#include "bridge/exec/bridged_rank.h"

#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "bridge/engines/engine_command.h"
#include "bridge/exec/client_detection.h"
#include "bridge/downstream/pmix_uri.h"
#include "bridge/exec/reporting_host.h"
#include "bridge/launch/rank_environment.h"
#include "absl/time/clock.h"
#include "bridge/upstream/pmi_wire_host.h"
#include "bridge/upstream/pmix_client_host.h"
#include "common/log.h"
#include "common/rendezvous.h"
#include "common/sockets.h"
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

// Names the v1.2 endpoint's directory to the container (see PmixV1Downstream).
constexpr char kPmixV1TmpdirVariable[] = "PMIX_SERVER_TMPDIR";

// What the bridge serves its command.
enum class Served { kPmiWire, kPmix, kPmixV1 };

// `detected`: what the command's program links, when that could be read.
Served ChooseServed(DownstreamChoice choice, upstream::HostFamily host,
                    std::optional<ClientFamily> detected) {
  switch (choice) {
    case DownstreamChoice::kPmix:
      return Served::kPmix;
    case DownstreamChoice::kPmixV1:
      return Served::kPmixV1;
    case DownstreamChoice::kPmi1:
    case DownstreamChoice::kPmi2:
      return Served::kPmiWire;
    case DownstreamChoice::kAuto:
      break;
  }
  if (detected.has_value()) {
    switch (*detected) {
      case ClientFamily::kPmixV1:
        return Served::kPmixV1;
      case ClientFamily::kPmix:
        return Served::kPmix;
      case ClientFamily::kPmi:
        return Served::kPmiWire;
    }
  }
  return host == upstream::HostFamily::kPmix ? Served::kPmix : Served::kPmiWire;
}

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
  pmix_v1_server_.reset();
  if (!pmix_v1_directory_.empty()) ::rmdir(pmix_v1_directory_.c_str());
  if (pmix_server_ != nullptr) pmix_server_->Stop();
  pmix_server_.reset();
  relay_.reset();
  pmix_socket_relay_.reset();
  rank_directory_.reset();
  reporting_host_.reset();
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
  ASSIGN_OR_RETURN(std::unique_ptr<upstream::PmiWireHost> host,
                   upstream::PmiWireHost::Connect(loop_, endpoint, endpoint.protocol,
                                                  std::move(host_options)));
  rank_ = host->rank();
  host_ = std::move(host);
  return absl::OkStatus();
}

absl::StatusOr<launch::SpawnRequest> BridgedRank::PmiWireDownstream(
    const std::vector<std::string>& environment) {
  downstream::ServerOptions server_options;
  server_options.protocols = WireProtocols(options_.downstream);
  server_options.trace = options_.trace;
  if (transcript_ != nullptr) {
    server_options.observer = [this](std::optional<int> rank, bool from_client,
                                     const wire::Message& message) {
      transcript_->Record(absl::Now(), rank.value_or(rank_),
                          from_client ? diagnose::Direction::kClientToServer
                                      : diagnose::Direction::kServerToClient,
                          message, message.DebugString());
    };
  }
  server_ = std::make_unique<downstream::PmiServer>(loop_, *reporting_host_, server_options);
  launch::Rendezvous rendezvous;
  rendezvous.rank = rank_;
  rendezvous.size = host_->info().size;
  if (options_.publish) {
    RETURN_IF_ERROR(PublishRankDirectory(host_->info().kvsname));
    RETURN_IF_ERROR(server_->ListenUnixForRank(rank_directory_->SocketPath(), rank_));
    const char* protocol = options_.downstream == DownstreamChoice::kPmi1   ? "pmi1"
                           : options_.downstream == DownstreamChoice::kPmi2 ? "pmi2"
                                                                            : "pmi";
    rendezvous::EnvEntries entries = {{rendezvous::kProtocolKey, protocol},
                                      {rendezvous::kRankKey, absl::StrCat(rank_)},
                                      {rendezvous::kSizeKey, absl::StrCat(rendezvous.size)}};
    for (auto& fact : HostSharingFacts()) entries.push_back(std::move(fact));
    RETURN_IF_ERROR(rank_directory_->WriteEnv(entries));
    rendezvous.shim_dir = rank_directory_->path();
    return launch::SpawnRequest{options_.command,
                                launch::BuildRankEnvironment(environment, rendezvous), -1};
  }
  int pair[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair) != 0) {
    return absl::ErrnoToStatus(errno, "socketpair");
  }
  // The child's end stays open in the bridge until the child has it: the
  // request keeps it, and ownership passes to the caller's SpawnRequest.
  child_fd_.Reset(pair[1]);
  RETURN_IF_ERROR(server_->AddConnectedClient(UniqueFd(pair[0]), rank_));
  rendezvous.fd = child_fd_.get();
  return launch::SpawnRequest{options_.command,
                              launch::BuildRankEnvironment(environment, rendezvous),
                              child_fd_.get()};
}

absl::StatusOr<launch::SpawnRequest> BridgedRank::PmixDownstream(
    const std::vector<std::string>& environment) {
  downstream::PmixServer::Options pmix_options;
  pmix_options.local_ranks = {rank_};
  ASSIGN_OR_RETURN(pmix_server_,
                   downstream::PmixServer::Start(loop_, *reporting_host_, pmix_options));
  ASSIGN_OR_RETURN(std::vector<std::string> pmix, pmix_server_->ClientEnvironment(rank_));
  if (options_.publish) {
    RETURN_IF_ERROR(PublishRankDirectory(host_->info().kvsname));
    ASSIGN_OR_RETURN(downstream::RewrittenEnvironment server,
                     downstream::RewritePmixServerUris(pmix, "127.0.0.1", 1));
    ASSIGN_OR_RETURN(std::vector<std::string> command_environment,
                     PublishPmix(environment, pmix, server.original.port));
    return launch::SpawnRequest{options_.command, std::move(command_environment), -1};
  }
  return launch::SpawnRequest{options_.command,
                              launch::BuildPmixRankEnvironment(environment, pmix), -1};
}

absl::StatusOr<launch::SpawnRequest> BridgedRank::PmixV1Downstream(
    const std::vector<std::string>& environment) {
  downstream::PmixV1Server::Options v1_options;
  v1_options.rank = rank_;
  v1_options.trace = options_.trace;
  if (options_.publish) {
    // The socket and the store go into RANKDIR/pmix-v1, named to the
    // container as PMIX_SERVER_TMPDIR: pmi-shim-hook mounts that directory
    // read-write at the same path (a v1.2 client opens the store's lock
    // read-write, which the read-only rank directory mount would refuse),
    // and bind-mount engines carry the rank directory at its host path.
    RETURN_IF_ERROR(PublishRankDirectory(host_->info().kvsname));
    v1_options.directory = absl::StrCat(rank_directory_->path(), "/pmix-v1");
    if (::mkdir(v1_options.directory.c_str(), 0700) != 0) {
      return absl::ErrnoToStatus(errno, absl::StrCat("mkdir ", v1_options.directory));
    }
    pmix_v1_directory_ = v1_options.directory;  // removed before the rank directory
  }
  ASSIGN_OR_RETURN(pmix_v1_server_,
                   downstream::PmixV1Server::Start(loop_, *reporting_host_, v1_options));
  std::vector<std::string> v1_environment = pmix_v1_server_->ClientEnvironment();
  // What makes an Open MPI app join a PMIx job instead of starting as a
  // singleton (pmix_server.h, ClientEnvironment), for Open MPI 2.x too.
  v1_environment.emplace_back("OMPI_MCA_schizo=ompi");
  if (options_.publish) {
    rendezvous::EnvEntries entries = {{rendezvous::kProtocolKey, "pmix1"}};
    for (const std::string& entry : v1_environment) {
      const size_t equals = entry.find('=');
      entries.emplace_back(entry.substr(0, equals), entry.substr(equals + 1));
    }
    for (auto& fact : HostSharingFacts()) entries.push_back(std::move(fact));
    RETURN_IF_ERROR(rank_directory_->WriteEnv(entries));
    return launch::SpawnRequest{
        options_.command,
        launch::BuildPmixRankEnvironment(
            environment, {absl::StrCat(rendezvous::kDirVariable, "=", rank_directory_->path()),
                          absl::StrCat(kPmixV1TmpdirVariable, "=", v1_options.directory)}),
        -1};
  }
  return launch::SpawnRequest{options_.command,
                              launch::BuildPmixRankEnvironment(environment, v1_environment), -1};
}

absl::StatusOr<launch::SpawnRequest> BridgedRank::PmixRelay(
    const std::vector<std::string>& environment) {
  // Find the server first, then listen: the relay needs its target.
  ASSIGN_OR_RETURN(downstream::RewrittenEnvironment probe,
                   downstream::RewritePmixServerUris(environment, "127.0.0.1", 1));
  if (probe.original.scheme != "tcp4") {
    return absl::UnimplementedError(absl::StrCat(
        "the PMIx server listens on ", probe.original.ToString(),
        "; the relay reaches IPv4 servers only"));
  }
  downstream::TcpRelay::Options relay_options;
  relay_options.target_address = probe.original.host;
  relay_options.target_port = probe.original.port;
  ASSIGN_OR_RETURN(relay_, downstream::TcpRelay::Start(loop_, relay_options));
  ASSIGN_OR_RETURN(downstream::RewrittenEnvironment rewritten,
                   downstream::RewritePmixServerUris(environment, "127.0.0.1", relay_->port()));
  if (options_.publish) {
    std::vector<std::string> pmix;
    for (const std::string& entry : rewritten.environment) {
      if (absl::StartsWith(entry, "PMIX_")) pmix.push_back(entry);
    }
    // A relay never joins the job itself: its rank is the launcher's word.
    if (!absl::SimpleAtoi(ValueOf(environment, "PMIX_RANK", ""), &rank_)) {
      return absl::InvalidArgumentError("PMIX_RANK is not set to a number by the launcher");
    }
    RETURN_IF_ERROR(PublishRankDirectory(ValueOf(environment, "PMIX_NAMESPACE", "pmix")));
    ASSIGN_OR_RETURN(std::vector<std::string> command_environment,
                     PublishPmix(environment, pmix, probe.original.port));
    return launch::SpawnRequest{options_.command, std::move(command_environment), -1};
  }
  return launch::SpawnRequest{options_.command, std::move(rewritten.environment), -1};
}

absl::Status BridgedRank::PublishRankDirectory(const std::string& job) {
  const std::string root =
      options_.publish_root.empty() ? DefaultPublishRoot() : options_.publish_root;
  ASSIGN_OR_RETURN(rank_directory_, RankDirectory::Create(root, job, rank_));
  return absl::OkStatus();
}

absl::StatusOr<std::vector<std::string>> BridgedRank::PublishPmix(
    const std::vector<std::string>& environment, const std::vector<std::string>& pmix_entries,
    int server_port) {
  // pmix.sock: for a container that cannot reach 127.0.0.1:PORT and has
  // nothing privileged to relay it, pmi-shim-client relays through this.
  ASSIGN_OR_RETURN(UniqueFd listener, ListenUnix(rank_directory_->PmixSocketPath()));
  downstream::TcpRelay::Options relay_options;
  relay_options.listener_fd = listener.Release();
  relay_options.target_port = server_port;
  relay_options.present_peer_identity = true;  // for clients in a user namespace
  ASSIGN_OR_RETURN(pmix_socket_relay_, downstream::TcpRelay::Start(loop_, relay_options));
  rendezvous::EnvEntries entries = {{rendezvous::kProtocolKey, "pmix"}};
  for (const std::string& entry : pmix_entries) {
    const size_t equals = entry.find('=');
    if (equals != std::string::npos) entries.emplace_back(entry.substr(0, equals), entry.substr(equals + 1));
  }
  for (auto& fact : HostSharingFacts()) entries.push_back(std::move(fact));
  RETURN_IF_ERROR(rank_directory_->WriteEnv(entries));
  return launch::BuildPmixRankEnvironment(
      environment, {absl::StrCat(rendezvous::kDirVariable, "=", rank_directory_->path())});
}

absl::Status BridgedRank::RewriteForEngine(launch::SpawnRequest& request) const {
  engines::EngineContext context;
  context.rank_dir = rank_directory_->path();
  context.tools_dir = options_.tools_dir;
  context.env = {{rendezvous::kDirVariable, rank_directory_->path()}};
  if (pmix_v1_server_ != nullptr) {
    context.env.emplace_back(kPmixV1TmpdirVariable,
                             absl::StrCat(rank_directory_->path(), "/pmix-v1"));
  }
  ASSIGN_OR_RETURN(engines::Rewrite rewrite, engines::RewriteEngineCommand(request.argv, context));
  for (const std::string& note : rewrite.notes) log::Info(note);
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
  // --downstream auto: a program run directly tells by what it links; a
  // container's image by its libraries when the command names its directory
  // (an OCI bundle or a rootfs); otherwise the host's family, as the image
  // was presumably built for this site.
  std::optional<ClientFamily> detected;
  if (options_.downstream == DownstreamChoice::kAuto && !options_.publish) {
    absl::StatusOr<std::string> program =
        launch::ResolveExecutable(options_.command.front(), environment);
    if (program.ok()) detected = DetectClientFamily(*program);
  } else if (options_.downstream == DownstreamChoice::kAuto) {
    if (std::optional<std::string> image = ImageDirectoryOf(options_.command)) {
      detected = DetectImageClientFamily(*image);
      if (detected.has_value()) log::Debug(absl::StrCat("read the image at ", *image));
    }
  }
  const Served served = ChooseServed(options_.downstream, endpoint.family, detected);
  const bool pmix_client = served == Served::kPmix;
  if (detected.has_value() && served == Served::kPmixV1) {
    log::Info(absl::StrCat(options_.command.front(),
                           " links a PMIx v1.2 client: serving it the native PMIx v1.2 (usock) "
                           "endpoint (--downstream auto)"));
  } else if (detected.has_value() &&
             pmix_client != (endpoint.family == upstream::HostFamily::kPmix)) {
    log::Info(absl::StrCat(options_.command.front(), " links a ",
                           pmix_client ? "PMIx" : "PMI-1/PMI-2", " client: serving it ",
                           pmix_client ? "a PMIx server" : "PMI", " (--downstream auto)"));
  }
  const bool relay = pmix_client && endpoint.family == upstream::HostFamily::kPmix;
  // Block SIGCHLD and friends before libpmix starts its progress thread
  // (PMIx_Init, PMIx_server_init): a thread created with them unblocked can
  // take the SIGCHLD that the signalfd is waiting for, and the command would
  // never be reaped.
  RETURN_IF_ERROR(children_.Start());
  if (!options_.trace_file.empty()) {
    transcript_file_ = options_.trace_file == "-" ? stderr : std::fopen(options_.trace_file.c_str(), "a");
    if (transcript_file_ == nullptr) {
      return absl::ErrnoToStatus(errno, absl::StrCat("cannot open the transcript file ",
                                                     options_.trace_file));
    }
    transcript_ = std::make_unique<diagnose::Transcript>(
        transcript_file_, diagnose::Transcript::Format::kHuman, absl::Now());
  }
  if (!relay) {
    RETURN_IF_ERROR(ConnectUpstream(endpoint));
    session::JobHost* below = host_.get();
    // A PMI host's barrier collects nothing by itself; a PMIx host's fence
    // and the PMIx server's modex already do.
    if (served == Served::kPmiWire && endpoint.family != upstream::HostFamily::kPmix) {
      collecting_host_ = std::make_unique<CollectingHost>(*host_, rank_);
      below = collecting_host_.get();
    }
    reporting_host_ = std::make_unique<ReportingHost>(*below);
  }
  absl::StatusOr<launch::SpawnRequest> request =
      relay                            ? PmixRelay(environment)
      : served == Served::kPmixV1      ? PmixV1Downstream(environment)
      : pmix_client                    ? PmixDownstream(environment)
                                       : PmiWireDownstream(environment);
  absl::Status started = request.status();
  if (started.ok() && rank_directory_ != nullptr) started = RewriteForEngine(*request);
  if (started.ok()) {
    // The launcher above ends a rank by killing its process group, and may
    // kill only the bridge: the command must share the group and die with it.
    request->own_process_group = false;
    request->parent_death_signal = SIGKILL;
    started = children_.Spawn(0, *request).status();
  }
  child_fd_.Reset();  // the child has its copy now
  if (!started.ok()) {
    // The host saw this rank initialize: tell it the rank is gone.
    if (host_ != nullptr) {
      reporting_host_->Lost(rank_, absl::StrCat("rank ", rank_, ": ", started.message()));
    }
    return started;
  }
  RETURN_IF_ERROR(loop_.Run());
  if (forced_status_.has_value()) return *forced_status_;
  return command_status_.value_or(1);
}

bool BridgedRank::ClientSpoke() const {
  if (pmix_server_ != nullptr) return pmix_server_->Connected(rank_);
  if (pmix_v1_server_ != nullptr) return pmix_v1_server_->Connected();
  return server_ != nullptr && server_->RankSpoke(rank_);
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
  // libpmix does not notice a client that vanished; tell the server, which
  // reports the loss to the host (and so aborts the job upstream).
  if (pmix_server_ != nullptr) pmix_server_->RankExited(rank_, launch::DescribeExit(wait_status));
  if (pmix_v1_server_ != nullptr) pmix_v1_server_->RankExited(launch::DescribeExit(wait_status));
  // A command that never used PMI (a wrapper that failed, a plain tool) did
  // not finalize; do it for its rank if it succeeded, so the host does not
  // abort the job for a rank that simply had nothing to say.
  if (!ClientSpoke() && *command_status_ == 0) reporting_host_->Finalized(rank_);
  FinishSoon();
}

void BridgedRank::FinishSoon() {
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
