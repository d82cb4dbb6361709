// Shared pieces of the `pmi-bridge launch` end-to-end tests: how to run the
// launcher on a program from test/programs, what a contract error line looks
// like, and which of the processes it started are still alive afterwards.
//
//   LaunchSpec spec;
//   spec.ranks = 4;
//   spec.mode = PmiMode::kPort;
//   spec.command = {ProgramPath("mpi_collectives")};
//   absl::StatusOr<LaunchOutcome> out = RunLaunch(spec);
//   ASSERT_TRUE(out.ok()) << out.status();
//   EXPECT_EQ(out->run.exit_code, 0) << out->run.Describe();
//   EXPECT_THAT(out->leftovers, IsEmpty());
#ifndef PMI_SHIM_TEST_E2E_LAUNCH_UTIL_H_
#define PMI_SHIM_TEST_E2E_LAUNCH_UTIL_H_

#include <sys/types.h>

#include <csignal>
#include <optional>
#include <ostream>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "test/testing/subprocess.h"

namespace pmi_shim::e2e {

// How ranks find the launcher's PMI server.
enum class PmiMode {
  kFd,    // default: inherited socket in PMI_FD
  kPort,  // --pmi-port: PMI_PORT=127.0.0.1:PORT and PMI_ID
};

// "fd" / "port", for test names.
std::string ModeName(PmiMode mode);

// Lets gtest print a PmiMode parameter by name in failure messages.
void PrintTo(PmiMode mode, std::ostream* os);

struct LaunchSpec {
  int ranks = 1;
  PmiMode mode = PmiMode::kFd;
  // Options placed between "-n N [--pmi-port]" and "--".
  std::vector<std::string> flags;
  std::vector<std::string> command;
  std::vector<std::pair<std::string, std::string>> env;
  // Hard limit after which the test kills the launcher's process group.
  absl::Duration timeout = absl::Seconds(60);
  // Send `signal` to the launcher this long after it started.
  std::optional<absl::Duration> signal_after;
  int signal = SIGINT;
};

struct LaunchOutcome {
  testutil::RunResult run;
  // Processes started by this launch that still ran once it had exited
  // (after a short grace for the kernel to finish SIGKILLs). They have been
  // killed by the time the caller sees them.
  std::vector<std::pair<pid_t, std::string>> leftovers;
};

// Absolute path of the launcher under test (//bridge/cli:pmi-bridge).
absl::StatusOr<std::string> BridgePath();

// Absolute path of a program of //test/programs, e.g. "mpi_collectives",
// "pmi2_kvs" (genrule outputs under bin/) or "pmi_raw_client".
std::string ProgramPath(absl::string_view name);

// Runs `pmi-bridge launch -n N [--pmi-port] FLAGS -- COMMAND`, every process
// marked so that leftovers can be found. Errors only if nothing could run.
absl::StatusOr<LaunchOutcome> RunLaunch(const LaunchSpec& spec);

// The output split into lines (without '\n'; no empty last line).
std::vector<std::string> Lines(absl::string_view text);

// The contract's error line for `rank`: a stderr line that starts with
// "pmi-bridge: rank R: ", contains `keyword` and then "; " (the "what to do"
// part). Returns the line, or nullopt.
std::optional<std::string> FindRankError(absl::string_view stderr_text, int rank,
                                         absl::string_view keyword);

// The rc=N value of a PMI reply printed by pmi_raw_client ("recv: ..."), or
// nullopt when the line has no rc token.
std::optional<int> ReplyRc(absl::string_view recv_line);

// The lines printed by pmi_raw_client for its replies ("recv: " stripped).
std::vector<std::string> Replies(absl::string_view stdout_text);

// A job of PMIx programs (Open MPI apps, libpmix clients) run by a real
// launcher or pmi-bridge, with leftovers found after it ended.
struct JobOutcome {
  testutil::RunResult run;
  // Marked processes alive after the launcher exited (already SIGKILLed).
  std::vector<std::pair<pid_t, std::string>> leftovers;
};

// Runs `argv` (a launcher command line) to its end, bounded by `timeout`,
// with what every such job needs here: a TMPDIR of this test process's own,
// libpmix's known leaks suppressed for ASan builds, an outer launcher's
// variables removed, and a marker on every process it starts. No transport
// setting: Open MPI and MPICH run with their defaults. `env` is added after
// those.
JobOutcome RunPmixJob(std::vector<std::string> argv,
                      std::vector<std::pair<std::string, std::string>> env = {},
                      absl::Duration timeout = absl::Seconds(60));

// This test process's TEST_TMPDIR (else /tmp): see RunPmixJob.
std::string PrivateTmpdir();

}  // namespace pmi_shim::e2e

#endif  // PMI_SHIM_TEST_E2E_LAUNCH_UTIL_H_
