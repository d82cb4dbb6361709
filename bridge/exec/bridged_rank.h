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
//   CMD's PMIx client ──(tcp)── PmixServer (libpmix) ──────┤
//   CMD's PMIx v1.2 client ──(usock)── PmixV1Server ───────┘
//
// A PMIx host with a PMIx client needs no translation: the bridge relays
// the bytes (TcpRelay) and points CMD's PMIX_SERVER_URI* at itself.
//
// The bridge never outlives its rank: it exits with CMD's status. When the
// client dies before finalize, the job is aborted upstream (as the launcher
// would for a bare rank); when the upstream dies, CMD is ended and the bridge
// exits non-zero within two seconds, with one line saying why.
#ifndef PMI_SHIM_BRIDGE_EXEC_BRIDGED_RANK_H_
#define PMI_SHIM_BRIDGE_EXEC_BRIDGED_RANK_H_

#include <cstdio>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "bridge/diagnose/transcript.h"
#include "bridge/downstream/pmi_server.h"
#include "bridge/downstream/pmix_server.h"
#include "bridge/downstream/pmix_v1_server.h"
#include "bridge/downstream/tcp_relay.h"
#include "bridge/exec/collecting_host.h"
#include "bridge/exec/rank_directory.h"
#include "bridge/exec/reporting_host.h"
#include "bridge/launch/child_processes.h"
#include "bridge/launch/spawn.h"
#include "bridge/session/job_host.h"
#include "bridge/session/server_session.h"
#include "bridge/upstream/host_endpoint.h"
#include "common/event_loop.h"
#include "common/unique_fd.h"

namespace pmi_shim::exec {

// What CMD's client speaks. kAuto: what CMD's program links
// (client_detection.h), else the host's family; PMI-1 and PMI-2 are told
// apart by the client's first line. Naming a family forces it. kPmixV1: a
// PMIx v1.2 (usock) client, served natively whatever the host speaks.
enum class DownstreamChoice { kAuto, kPmi1, kPmi2, kPmix, kPmixV1 };

struct ExecOptions {
  upstream::UpstreamChoice upstream = upstream::UpstreamChoice::kAuto;
  DownstreamChoice downstream = DownstreamChoice::kAuto;
  std::vector<std::string> command;
  bool trace = false;  // log every PMI message at debug level
  // Write a decoded transcript (bridge/diagnose/transcript.h) of CMD's
  // messages and the host's answers to this file ("-": stderr).
  std::string trace_file;
  // Publish a rank directory (rank socket + env file, common/rendezvous.h)
  // for a container instead of handing CMD a PMI_FD or PMIx URI itself.
  bool publish = false;
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
  absl::Status ConnectUpstream(const upstream::HostEndpoint& endpoint);
  // The command's environment for each kind of downstream.
  absl::StatusOr<launch::SpawnRequest> PmiWireDownstream(const std::vector<std::string>& environment);
  absl::StatusOr<launch::SpawnRequest> PmixDownstream(const std::vector<std::string>& environment);
  absl::StatusOr<launch::SpawnRequest> PmixRelay(const std::vector<std::string>& environment);
  absl::StatusOr<launch::SpawnRequest> PmixV1Downstream(const std::vector<std::string>& environment);
  // Container mode: the rank directory, and a relay from its pmix.sock to
  // the PMIx server at 127.0.0.1:`port`; returns CMD's environment.
  absl::Status PublishRankDirectory(const std::string& job);
  absl::StatusOr<std::vector<std::string>> PublishPmix(const std::vector<std::string>& environment,
                                                       const std::vector<std::string>& pmix_entries,
                                                       int server_port);
  // Adds the rank directory to a container engine's command line
  // (bridge/engines); other commands are left alone.
  absl::Status RewriteForEngine(launch::SpawnRequest& request) const;
  // Whether CMD's client has talked to the bridge.
  bool ClientSpoke() const;
  void OnCommandExit(int wait_status);
  void OnUpstreamLost(std::string reason);
  void OnInterrupt(int signal, int count);
  // Stops the loop once the host has nothing left to say (or a deadline).
  void FinishSoon();
  void WaitForIdleHost(absl::Time deadline);

  ExecOptions options_;
  EventLoop loop_;
  std::unique_ptr<session::JobHost> host_;
  std::unique_ptr<CollectingHost> collecting_host_;  // PMI hosts: fence-time data
  std::unique_ptr<ReportingHost> reporting_host_;  // what the downstream talks to
  int rank_ = 0;
  std::unique_ptr<downstream::PmiServer> server_;
  std::unique_ptr<downstream::PmixServer> pmix_server_;
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
