// Subprocess: run a program to completion for an end-to-end test, capturing
// its output, its exit status and how long it took, and never hanging.
//
// The child runs in its own process group. If it outlives the timeout the
// whole group is killed with SIGKILL and the result says timed_out, so a
// launcher that hangs fails a test instead of stalling the suite. Output is
// collected by poll() on two pipes; no threads are involved.
//
//   absl::StatusOr<RunResult> r =
//       RunSubprocess({"/bin/echo", "hi"}, {}, absl::Seconds(5));
//   ASSERT_TRUE(r.ok()) << r.status();
//   EXPECT_EQ(r->exit_code, 0);
//   EXPECT_EQ(r->stdout_text, "hi\n");
//
// Thread-compatible: RunSubprocess() forks; call it from one thread at a time.
#ifndef PMI_SHIM_TEST_TESTING_SUBPROCESS_H_
#define PMI_SHIM_TEST_TESTING_SUBPROCESS_H_

#include <csignal>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace pmi_shim::testutil {

struct RunOptions {
  // argv[0] is looked up on PATH when it has no '/'.
  std::vector<std::string> argv;
  // Added to (or replacing entries of) this process's environment.
  std::vector<std::pair<std::string, std::string>> env;
  // Removed from the child's environment (after `env` is applied).
  std::vector<std::string> unset_env;
  // After this long the process group is killed and timed_out is set.
  absl::Duration timeout = absl::Seconds(60);
  // If set, `signal` is sent to the child's pid (not its group, the way a
  // user's `kill` reaches a launcher) this long after the start.
  std::optional<absl::Duration> signal_after;
  int signal = SIGINT;
};

struct RunResult {
  // Exit status when the child exited normally, else -1.
  int exit_code = -1;
  // Signal that ended the child, else 0.
  int term_signal = 0;
  // True when the child was killed for running past RunOptions::timeout.
  bool timed_out = false;
  std::string stdout_text;
  std::string stderr_text;
  // From the start to the moment the child's exit was seen.
  absl::Duration wall = absl::ZeroDuration();
  // From RunOptions::signal_after to the child's exit, when a signal was sent.
  std::optional<absl::Duration> after_signal;

  // "exit 3" / "killed by signal 9" / "timed out" - for assertion messages.
  std::string StatusText() const;
  // StatusText plus the captured stdout/stderr, for assertion messages.
  std::string Describe() const;
};

// Runs `options.argv` to completion. Returns an error only when the program
// could not be started (no such file, not executable, fork failure); every
// way the program itself can end is reported in RunResult.
absl::StatusOr<RunResult> RunSubprocess(const RunOptions& options);

// Shorthand for the common case.
absl::StatusOr<RunResult> RunSubprocess(std::vector<std::string> argv,
                                        std::vector<std::pair<std::string, std::string>> env,
                                        absl::Duration timeout);

}  // namespace pmi_shim::testutil

#endif  // PMI_SHIM_TEST_TESTING_SUBPROCESS_H_
