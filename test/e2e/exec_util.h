// Shared pieces of the `pmi-bridge exec` end-to-end tests: a real launcher
// (mpiexec.hydra) runs N ranks, each rank being `pmi-bridge exec -- CMD`
// (or CMD alone, as the reference), and the test looks at the outcome, at
// the processes left behind and, for fault injection, at how fast every
// party ends after the test SIGKILLs one of them.
//
//   HydraSpec spec;
//   spec.mode = PmiMode::kPort;
//   spec.command = {ProgramPath("mpi_collectives")};
//   absl::StatusOr<HydraOutcome> out = RunHydra(spec);
//   ASSERT_TRUE(out.ok()) << out.status();
//   EXPECT_EQ(out->run.exit_code, 0) << out->run.Describe();
//   EXPECT_THAT(out->leftovers, IsEmpty());
//
// Processes are found through an environment marker (testutil::kMarkerVar;
// pmi-bridge drops every PMI_* variable from its commands, so no marker may
// start with PMI_). These helpers also set kExecMarkerVar, which tells the
// processes of one exec run apart from those of the reference run.
#ifndef PMI_SHIM_TEST_E2E_EXEC_UTIL_H_
#define PMI_SHIM_TEST_E2E_EXEC_UTIL_H_

#include <sys/types.h>

#include <functional>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "test/e2e/launch_util.h"
#include "test/testing/subprocess.h"

namespace pmi_shim::e2e {

// The marker that survives pmi-bridge exec (no PMI_ prefix).
inline constexpr char kExecMarkerVar[] = "EXEC_E2E_MARKER";

// One live process seen in /proc.
struct ProcessInfo {
  pid_t pid = 0;
  std::vector<std::string> argv;
  std::map<std::string, std::string> env;

  // argv joined with spaces, for messages.
  std::string CommandLine() const;
  // PMI_RANK, else PMI_ID (port mode), from the process's environment.
  std::optional<int> Rank() const;
  // True when argv[0] is `path` (or ends with "/" + `path`).
  bool Runs(absl::string_view path) const;
};

// Live (non-zombie) processes, other than this one, whose environment holds
// kExecMarkerVar=`marker` or testutil::kMarkerVar=`marker`.
std::vector<ProcessInfo> MarkedProcesses(absl::string_view marker);

// True while `pid` exists and is not a zombie.
bool IsRunning(pid_t pid);

// How a job is run under mpiexec.hydra.
struct HydraSpec {
  int ranks = 4;
  PmiMode mode = PmiMode::kFd;  // kPort: mpiexec.hydra -pmi-port
  // Wrap every rank in `pmi-bridge exec BRIDGE_FLAGS --`; false runs the
  // command directly under hydra (the reference).
  bool bridge = true;
  std::vector<std::string> bridge_flags;
  std::vector<std::string> command;
  // When set, each bridge's stderr goes to DIR/bridge.R.err instead of
  // hydra's output (where it is lost once the hydra proxy is dead), and each
  // command's stdout to DIR/client.R.out (for the test to follow progress).
  std::string output_dir;
  std::vector<std::pair<std::string, std::string>> env;
  // Hard limit after which the launcher's process group is killed.
  absl::Duration timeout = absl::Seconds(60);
};

// The full mpiexec.hydra command line for `spec`.
std::vector<std::string> HydraArgv(const HydraSpec& spec);

struct HydraOutcome {
  testutil::RunResult run;
  // Marked processes still running once mpiexec.hydra had exited (after a
  // short grace); they have been SIGKILLed by the time the caller sees them.
  std::vector<std::pair<pid_t, std::string>> leftovers;
};

// Runs `spec` to completion. Errors only if nothing could run.
absl::StatusOr<HydraOutcome> RunHydra(const HydraSpec& spec);

// Fault injection: run a hydra job, wait until it is in the phase the test
// wants, SIGKILL the chosen processes and watch everything end.
struct FaultSpec {
  HydraSpec job;
  // Polled every few milliseconds until it returns true (or the job ends):
  // the job has reached the phase where the fault is injected.
  std::function<bool(const std::vector<ProcessInfo>&)> ready;
  // Then, after `settle`, every marked process for which this is true is
  // SIGKILLed (exactly `victims` of them are expected).
  absl::Duration settle = absl::Milliseconds(300);
  std::function<bool(const ProcessInfo&)> victim;
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

struct FaultOutcome {
  testutil::RunResult run;
  bool became_ready = false;
  std::vector<ProcessInfo> killed;
  // Kill -> mpiexec.hydra's exit.
  std::optional<absl::Duration> launcher_after_kill;
  std::vector<BridgeEnd> bridges;
  std::vector<std::pair<pid_t, std::string>> leftovers;

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

// Contents of `path` ("" if missing).
std::string ReadWholeFile(const std::string& path);

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
// Lines of `text` that start with `prefix`.
std::vector<std::string> LinesStartingWith(absl::string_view text, absl::string_view prefix);

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

}  // namespace pmi_shim::e2e

#endif  // PMI_SHIM_TEST_E2E_EXEC_UTIL_H_
