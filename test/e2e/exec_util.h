// Fault injection around `pmi-bridge exec` under a real launcher
// (mpiexec.hydra): run a job, wait until it is in the phase the test wants,
// SIGKILL the chosen processes and measure how fast every party ends.
//
//   FaultSpec spec;
//   spec.job.mode = PmiMode::kPort;
//   spec.job.command = RankCommand({.output_dir = dir}, RawClient(...));
//   spec.ready = [&](const std::vector<ProcessInfo>& procs) { ... };
//   spec.victim = [&](const ProcessInfo& p) { return p.Runs(client) && p.Rank() == 1; };
//   absl::StatusOr<FaultOutcome> out = RunHydraWithFault(spec);
//
// Processes are found through the harness's marker (testutil::kMarkerVar,
// which pmi-bridge passes on to its command).
#ifndef PMI_SHIM_TEST_E2E_EXEC_UTIL_H_
#define PMI_SHIM_TEST_E2E_EXEC_UTIL_H_

#include <sys/types.h>

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "test/testing/launcher.h"
#include "test/testing/processes.h"

namespace pmi_shim::e2e {

// What runs as each rank around the command.
struct RankWiring {
  // Wrap the command in `pmi-bridge exec BRIDGE_FLAGS --`; false runs it
  // directly under the launcher (the reference).
  bool bridge = true;
  std::vector<std::string> bridge_flags;
  // When set, each bridge's stderr goes to DIR/bridge.R.err instead of the
  // launcher's output (where it is lost once hydra's proxy is dead), and each
  // command's stdout to DIR/client.R.out (for the test to follow progress).
  std::string output_dir;
};

// The command line of each rank: COMMAND as `wiring` says.
std::vector<std::string> RankCommand(const RankWiring& wiring,
                                     const std::vector<std::string>& command);

struct FaultSpec {
  // The job (hydra; its command usually from RankCommand).
  testutil::JobSpec job;
  // Polled every few milliseconds until it returns true (or the job ends):
  // the job has reached the phase where the fault is injected.
  std::function<bool(const std::vector<testutil::ProcessInfo>&)> ready;
  // Then, after `settle`, every marked process for which this is true is
  // SIGKILLed (exactly `victims` of them are expected).
  absl::Duration settle = absl::Milliseconds(300);
  std::function<bool(const testutil::ProcessInfo&)> victim;
  int victims = 1;
};

// What became of one bridge (a process running pmi-bridge) after the kill.
struct BridgeEnd {
  pid_t pid = 0;
  int rank = -1;
  // Kill -> gone (exited or zombie); unset if it outlived the observation.
  std::optional<absl::Duration> after_kill;
  // Its wait status, when it was reparented to the test (its parent, the
  // hydra proxy, had died) and so reaped by the test.
  std::optional<int> wait_status;
};

// The finished job (run, leftovers) and what the fault did.
struct FaultOutcome : testutil::JobResult {
  bool became_ready = false;
  std::vector<testutil::ProcessInfo> killed;
  // Kill -> mpiexec.hydra's exit.
  std::optional<absl::Duration> launcher_after_kill;
  std::vector<BridgeEnd> bridges;

  // The run, the victims and every timing, for assertion messages.
  std::string Describe() const;
};

// Runs `spec` and injects the fault. Needs the calling process to be a child
// subreaper (MakeThisProcessASubreaper) to learn the bridges' statuses after
// their parent died. Errors only if nothing could run.
absl::StatusOr<FaultOutcome> RunHydraWithFault(const FaultSpec& spec);

// prctl(PR_SET_CHILD_SUBREAPER): orphans of the jobs this test starts become
// its children (so their exit status can be read, and no zombie is left).
void MakeThisProcessASubreaper();

// ---- Proof that a rank's traffic went through its bridge ----
// Where the command behind the bridge would also run directly under the
// launcher, a passing job proves nothing: the test wraps the command before
// the bridge ("host ...") and between the bridge and the program ("child
// ...") in a shell that prints what rendezvous each got, and checks the
// program's leads only to its bridge. See exec_pmix_test.cc
// (RelayCarriesTheTrafficThroughTheBridgesOwnListener) for PMIx over TCP.

// The value of "NAME=" in a line of space-separated NAME=VALUE words.
std::string Word(absl::string_view line, absl::string_view name);
// "...;tcp4://127.0.0.1:PORT" -> PORT (or -1), and the part before ';'.
int UriPort(absl::string_view uri);
std::string UriServer(absl::string_view uri);

// `command`, run by a shell that first prints one line
//   "LABEL rank=R ppid=P fd=F sock=INODE socks=I,J,... peer=OWNER"
// about its PMI_FD: the socket's inode, every socket inode the process holds,
// and (ss -xp) who holds the other end of that socket.
std::vector<std::string> PrintingPmiFd(absl::string_view label,
                                       const std::vector<std::string>& command);

// Expects, for `ranks` ranks, "host" lines printed before each bridge and
// "child" lines printed behind it (PrintingPmiFd): each program's PMI_FD is
// a socket whose other end its parent pmi-bridge holds, and the program
// holds no socket the launcher gave the bridge.
void ExpectPmiFdThroughTheBridge(absl::string_view output, int ranks);

// `output` without the lines that start with one of `prefixes` (the proof
// lines above), so that the program's own output can be checked.
std::string WithoutLinesStartingWith(absl::string_view output,
                                     const std::vector<std::string>& prefixes);

}  // namespace pmi_shim::e2e

#endif  // PMI_SHIM_TEST_E2E_EXEC_UTIL_H_
