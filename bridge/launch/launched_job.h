// LaunchedJob: `pmi-bridge launch`, a single-node PMI process manager.
//
// Starts N ranks of a command, serves their PMI-1/PMI-2 clients from an
// EmbeddedHost over PMI_FD socketpairs or a PMI_PORT listener (or their
// PMIx clients from a PmixServer in front of the same host), and watches
// the processes (ChildProcesses). Everything happens on one EventLoop
// thread: client sockets, signals and timers.
//
// How a job ends, and its exit status:
//  - every rank exited: the first non-zero status in exit order (a rank
//    killed by signal S counts as 128+S), else 0;
//  - a rank called abort: its exit code, after its message is printed;
//  - a rank broke the protocol or vanished between init and finalize, or
//    the job can no longer progress (a rank exited, or stayed silent past
//    --init-timeout, while others wait for it in a barrier): 1, or the
//    failing rank's own non-zero status;
//  - SIGINT/SIGTERM/SIGHUP: forwarded to every rank, 128+signal;
//  - --timeout expired: 124.
// When the job ends early, the remaining ranks get SIGTERM, then SIGKILL
// after a grace period; the launcher returns only when all are reaped.
#ifndef PMI_SHIM_BRIDGE_LAUNCH_LAUNCHED_JOB_H_
#define PMI_SHIM_BRIDGE_LAUNCH_LAUNCHED_JOB_H_

#include <signal.h>
#include <sys/types.h>

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "bridge/downstream/pmi_server.h"
#include "bridge/downstream/pmix_server.h"
#include "bridge/downstream/pmix_v1_server.h"
#include "bridge/launch/child_processes.h"
#include "bridge/session/server_session.h"
#include "bridge/upstream/embedded_host.h"
#include "common/event_loop.h"

namespace pmi_shim::launch {

struct LaunchOptions {
  int size = 1;
  bool pmi_port = false;  // PMI_PORT over TCP instead of an inherited PMI_FD
  session::ClientProtocols protocols = session::ClientProtocols::kAny;
  // Serve PMIx clients (Open MPI, libpmix) from the embedded libpmix server
  // instead of PMI-1/PMI-2 ones.
  bool pmix = false;
  // Serve PMIx v1.2 (usock) clients from one native PmixV1Server per rank.
  bool pmix_v1 = false;
  absl::Duration timeout = absl::ZeroDuration();     // zero: none
  absl::Duration init_timeout = absl::Seconds(120);  // zero: none
  absl::Duration kill_grace = absl::Seconds(2);
  bool trace = false;
  std::vector<std::string> command;
};

class LaunchedJob {
 public:
  explicit LaunchedJob(LaunchOptions options);
  ~LaunchedJob();

  // Runs the job to the end and returns its exit status. An error means the
  // job could not start (nothing is left running then).
  absl::StatusOr<int> Run();

 private:
  absl::Status StartRanks();
  // The environment of `rank`: a PMI_FD/PMI_PORT rendezvous, or PMIx's.
  absl::StatusOr<std::vector<std::string>> RankEnvironment(int rank, int fd,
                                                           const std::string& port_address);
  // Whether `rank`'s client has talked to the job (PMI message, PMIx connect).
  bool RankSpoke(int rank) const;
  // Ranks that talked to the job and wait for the others (in a PMI barrier,
  // or connected to PMIx and not finalized).
  int RanksWaiting() const;
  // After a job in which no rank used PMI: say it may have run as N singletons.
  void WarnIfNobodySpoke() const;
  void OnInterrupt(int signal, int count);
  void OnRankExit(int rank, int wait_status);
  void CheckSilentRanks();
  // Ends the job early with `status`: logs `message` when not empty and
  // sends `signal` to every rank (SIGKILL follows after the grace period).
  // Only the first call counts.
  void EndJob(int status, const std::string& message, int signal = SIGTERM);

  LaunchOptions options_;
  EventLoop loop_;
  std::unique_ptr<upstream::EmbeddedHost> host_;
  std::unique_ptr<downstream::PmiServer> server_;
  std::unique_ptr<downstream::PmixServer> pmix_server_;
  std::vector<std::unique_ptr<downstream::PmixV1Server>> pmix_v1_servers_;  // by rank
  std::vector<std::string> inherited_environment_;
  ChildProcesses children_;
  std::vector<bool> running_;  // by rank
  absl::Time started_;
  std::optional<int> end_status_;     // set when the job is being ended early
  std::optional<int> first_failure_;  // first non-zero rank status before that
};

}  // namespace pmi_shim::launch

#endif  // PMI_SHIM_BRIDGE_LAUNCH_LAUNCHED_JOB_H_
