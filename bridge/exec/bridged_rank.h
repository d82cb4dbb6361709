// BridgedRank: `pmi-bridge exec`, one rank of a job run by a real launcher.
//
// The launcher (mpiexec.hydra, srun, mpirun, flux) starts `pmi-bridge exec
// -- CMD` as a rank. The bridge connects to the launcher's PMI server as that
// rank ("upstream"), then starts CMD with a PMI rendezvous of its own
// ("downstream") and translates between the two, so the client in CMD (an
// MPI library in a container, say) may speak another protocol or dialect
// than the host server:
//
//   launcher's server ──(PMI_FD / PMI_PORT)── PmiWireHost ─┐
//                                                          JobHost
//   CMD's PMI client ──(its own PMI_FD)── PmiServer ── ServerSession
//
// A PMIx client under a PMI-1/PMI-2 launcher (flow 4) is served by its
// node's PMIx server (bridge/node), one per node and job, which the first
// bridge of the node starts and the others join; each bridge still does its
// rank's host work (barrier, KVS, finalize, abort) on its own connection at
// the server's request:
//
//   CMD's PMIx client ──(tcp)── node server (libpmix) ──control.sock── NodeMember
//                                                                      └ JobHost
//
// A PMIx v1.2 client (usock only, which no current launcher serves) gets
// the bridge's own per-rank endpoint under either family of host:
//
//   CMD's PMIx v1.2 client ──(usock)── PmixV1Server ── ReportingHost ── JobHost
//
// A PMIx host with a PMIx client needs no translation: the bridge relays
// the bytes (TcpRelay) and points CMD's PMIX_SERVER_URI* at itself.
//
// Every rank also publishes a rank directory (PMI_SHIM_DIR, unless
// --no-publish) for a container that CMD may start, directly or through a
// wrapper. Unless CMD's program names its family, the directory offers both
// sides and pmi-shim-client picks one inside the container; each side is
// set up only when a client needs it: under a PMIx host the PMI server's
// upstream (PmixClientHost) connects when a client connects pmi.sock
// (DeferredHost), under a PMI host the bridge joins its node's PMIx server
// when a client asks on request.sock.
//
// The bridge never outlives its rank: it exits with CMD's status. When the
// client dies before finalize, the job is aborted upstream (as the launcher
// would for a bare rank); when the upstream dies, CMD is ended and the bridge
// exits non-zero within two seconds, with one line saying why.
#ifndef PMI_SHIM_BRIDGE_EXEC_BRIDGED_RANK_H_
#define PMI_SHIM_BRIDGE_EXEC_BRIDGED_RANK_H_

#include <sys/types.h>

#include <cstdio>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "bridge/diagnose/transcript.h"
#include "bridge/downstream/pmi_server.h"
#include "bridge/downstream/pmix_v1_server.h"
#include "bridge/downstream/tcp_relay.h"
#include "bridge/exec/collecting_host.h"
#include "bridge/exec/deferred_host.h"
#include "bridge/exec/rank_directory.h"
#include "bridge/exec/reporting_host.h"
#include "bridge/launch/child_processes.h"
#include "bridge/launch/spawn.h"
#include "bridge/node/node_member.h"
#include "bridge/node/node_plan.h"
#include "bridge/session/job_host.h"
#include "bridge/session/server_session.h"
#include "bridge/upstream/host_endpoint.h"
#include "common/event_loop.h"
#include "common/unique_fd.h"
#include "image/client_detection.h"

namespace pmi_shim::exec {

using image::ClientFamily;

// What CMD's client speaks. kAuto: what CMD's program links
// (client_detection.h), else the host's family; PMI-1 and PMI-2 are told
// apart by the client's first line. Naming a family forces it. kPmixV1: a
// PMIx v1.2 (usock) client, served natively whatever the host speaks.
enum class DownstreamChoice { kAuto, kPmi1, kPmi2, kPmix, kPmixV1 };

// What one rank serves, decided before anything is connected (pure, see
// PlanRank).
struct RankPlan {
  // What CMD itself is handed: a PMI_FD (kPmi), a PMIx environment (kPmix),
  // the v1.2 endpoint's environment (kPmixV1), or, for a container engine,
  // neither.
  std::optional<ClientFamily> direct;
  // What the rank directory serves: pmi.sock, pmix.sock (none: no directory).
  bool publish_pmi = false;
  bool publish_pmix = false;
  // What a container client that cannot tell gets (PMI_SHIM_PROTOCOL).
  ClientFamily preferred = ClientFamily::kPmi;
};

// A named --downstream serves only that family. With auto: a program whose
// libraries name its family gets that family (directly and in the rank
// directory); anything else (a container engine, a wrapper script, a static
// or unreadable program) is offered both, for pmi-shim-client to choose
// from inside the container by what the image's program links, and the
// host's family is the preference. A PMIx v1.x client (--downstream pmix1,
// or detected) gets the bridge's own v1.2 endpoint and nothing else: no
// pmi.sock, no node PMIx server.
RankPlan PlanRank(DownstreamChoice choice, upstream::HostFamily host, bool publish,
                  bool command_is_engine, std::optional<ClientFamily> detected);

struct ExecOptions {
  upstream::UpstreamChoice upstream = upstream::UpstreamChoice::kAuto;
  DownstreamChoice downstream = DownstreamChoice::kAuto;
  std::vector<std::string> command;
  bool trace = false;  // log every PMI message at debug level
  // Write a decoded transcript (bridge/diagnose/transcript.h) of CMD's
  // messages and the host's answers to this file ("-": stderr).
  std::string trace_file;
  // Publish a rank directory (rank socket, PMIx socket, env file:
  // common/rendezvous.h) whose path is exported as PMI_SHIM_DIR, so that a
  // container started by CMD (directly or through any wrapper) finds the
  // rank. CMD itself still gets a PMI_FD or PMIx environment unless it is a
  // container engine (command_is_engine), whose containers cannot use them.
  bool publish = false;
  // A directory that cannot be made is an error (else a warning, and CMD
  // keeps its direct rendezvous): --publish, --publish-dir, an engine.
  bool publish_required = false;
  // CMD's program is a known container engine (podman, docker, runc, ch-run,
  // apptainer, ...): it gets only PMI_SHIM_DIR, and its image is not read.
  bool command_is_engine = false;
  std::string publish_root;  // where; empty: DefaultPublishRoot()
  // Host directory holding bin/pmi-shim-client, bound at /opt/pmi-shim by
  // bind-mount engines (Apptainer, ch-run); empty: the site binds it.
  std::string tools_dir;
  // After the upstream is lost: how long CMD gets between SIGTERM and SIGKILL.
  absl::Duration kill_grace = absl::Seconds(1);
  // After CMD exited: how long to wait for the host to acknowledge finalize.
  absl::Duration finalize_wait = absl::Seconds(2);
};

class BridgedRank {
 public:
  explicit BridgedRank(ExecOptions options);
  ~BridgedRank();

  // Runs CMD to its end and returns the bridge's exit status. An error means
  // nothing could be started; its message is one line.
  absl::StatusOr<int> Run();

  // The signal that killed CMD, if one did and the bridge did not cause it:
  // the bridge should then die of it too (after this object is gone), so the
  // launcher sees what it would have seen of the bare rank.
  std::optional<int> command_signal() const { return command_signal_; }

 private:
  // Run's steps. What CMD's client is, when --downstream auto can tell:
  // what a program run directly links, or a PMIx v1.x client in an image
  // the command names by its directory.
  std::optional<ClientFamily> DetectCommandClient(
      const std::vector<std::string>& environment) const;
  void LogAutoChoice(const RankPlan& plan, std::optional<ClientFamily> detected,
                     bool pmix_host) const;
  // exec --trace FILE.
  absl::Status OpenTranscript();
  // What plan_ needs before CMD starts, under each kind of host: the
  // upstream connection (now, or deferred until a client needs it), the PMI
  // server, the PMIx relay's target; job_ and size_ as far as known.
  absl::Status SetUpForPmixV1(const upstream::HostEndpoint& endpoint);
  absl::Status SetUpUnderPmiHost(const upstream::HostEndpoint& endpoint);
  absl::Status SetUpUnderPmixHost(const upstream::HostEndpoint& endpoint);
  absl::Status ConnectUpstream(const upstream::HostEndpoint& endpoint);
  downstream::ServerOptions PmiServerOptions();
  // Under a PMI host, the PMIx side (flow 4), asynchronous: the start-up
  // exchange (bridge/node/startup_exchange.h), then joining the node's
  // PMIx server; its welcome brings pmix_entries_ and pmix_port_, and
  // OnPmixSideReady carries on. Started when CMD links PMIx (CMD is spawned
  // once the side is ready) or when a container client asks on
  // request.sock (the client waits for its answer meanwhile).
  void StartPmixSide();
  void JoinNode();
  void OnPmixSideReady(absl::Status status);
  void OnNodeLost(std::string why);
  // pmix.sock, relayed to 127.0.0.1:pmix_port_.
  absl::Status StartPmixSocketRelay();
  rendezvous::EnvEntries PmixEntries() const;
  // The rank directory itself (with the per-user fallback), empty.
  absl::Status CreateRankDirectory(const std::string& job);
  // The rank directory for plan_ (`size`: the job's, when known).
  absl::Status Publish(const std::string& job, std::optional<int> size);
  // request.sock (common/rendezvous.h): the lazily served half of an offer.
  absl::Status ListenForRequests();
  void AcceptRequests();
  absl::StatusOr<rendezvous::EnvEntries> AnswerRequest(const std::string& request);
  void Reply(int client, const absl::StatusOr<rendezvous::EnvEntries>& reply);
  // CMD's environment, the rank directory, and CMD started: on failure the
  // host is told this rank is gone.
  absl::Status StartCommand();
  absl::StatusOr<launch::SpawnRequest> CommandRequest();
  // The PMIx v1.2 endpoint (RANKDIR/pmix-v1 when published) and CMD's
  // environment for it.
  absl::StatusOr<launch::SpawnRequest> PmixV1Request();
  // The asynchronous start failed: the host is told, Run returns `why`.
  void FailStart(absl::Status why);
  void ReportStartFailure(const absl::Status& why);
  // Where this rank's host work is reported from (either side's).
  ReportingHost* RankReportingHost() const;
  // Adds the rank directory to a container engine's command line
  // (bridge/engines); other commands are left alone.
  absl::Status RewriteForEngine(launch::SpawnRequest& request) const;
  // Whether CMD's client has talked to the bridge.
  bool ClientSpoke() const;
  // Whether CMD still runs (it may have died without being reaped yet).
  bool CommandRunning() const;
  void OnCommandExit(int wait_status);
  void OnUpstreamLost(std::string reason);
  void OnInterrupt(int signal, int count);
  // Stops the loop once the host has nothing left to say (or a deadline).
  void FinishSoon();
  void WaitForIdleHost(absl::Time deadline);

  ExecOptions options_;
  RankPlan plan_;
  bool pmix_host_ = false;
  // The PMIx side: the client environment, and the server's loopback port
  // (0 until a PMIx server is known: started, or the launcher's).
  std::vector<std::string> pmix_entries_;
  int pmix_port_ = 0;
  enum class PmixSide { kNone, kStarting, kReady, kFailed };
  PmixSide pmix_side_ = PmixSide::kNone;
  absl::Status pmix_failure_;  // kFailed: why
  // request.sock clients waiting for the PMIx side (kStarting).
  std::vector<UniqueFd> pmix_waiters_;
  UniqueFd request_listener_;
  // What Run found, for StartCommand (which may run later, from the loop).
  std::vector<std::string> environment_;
  std::string job_;
  std::optional<int> size_;
  std::string published_root_;  // where the rank directory went
  EventLoop loop_;
  std::unique_ptr<session::JobHost> host_;
  std::unique_ptr<CollectingHost> collecting_host_;  // PMI hosts: fence-time data
  std::unique_ptr<ReportingHost> reporting_host_;    // what the PMI server talks to
  // PMIx host, PMI client not yet seen: the PMI server's host until then.
  std::unique_ptr<DeferredHost> deferred_host_;
  std::unique_ptr<ReportingHost> pmix_reporting_host_;  // PMI host: the node member's
  int rank_ = 0;
  std::unique_ptr<downstream::PmiServer> server_;
  std::optional<node::NodePlan> node_plan_;
  std::unique_ptr<node::NodeMember> node_member_;
  bool leaving_node_ = false;
  absl::Status start_failure_;  // the asynchronous start's error, if any
  bool child_started_ = false;
  pid_t command_pid_ = -1;
  bool start_reported_ = false;
  bool finishing_ = false;
  std::unique_ptr<downstream::PmixV1Server> pmix_v1_server_;
  std::string pmix_v1_directory_;  // RANKDIR/pmix-v1 when published
  std::unique_ptr<downstream::TcpRelay> relay_;
  std::unique_ptr<RankDirectory> rank_directory_;
  std::FILE* transcript_file_ = nullptr;
  std::unique_ptr<diagnose::Transcript> transcript_;
  std::unique_ptr<downstream::TcpRelay> pmix_socket_relay_;  // pmix.sock → server
  launch::ChildProcesses children_;
  UniqueFd child_fd_;  // the command's PMI_FD end until it is spawned
  std::optional<int> command_status_;
  std::optional<int> command_signal_;
  std::optional<int> forced_status_;  // set when the bridge ends CMD itself
};

}  // namespace pmi_shim::exec

#endif  // PMI_SHIM_BRIDGE_EXEC_BRIDGED_RANK_H_
