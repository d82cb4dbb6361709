// Tests for the subprocess runner that every end-to-end test relies on:
// exit status, output capture, deadline kill of the whole process group,
// delayed signals and spawn failures.
#include "test/testing/subprocess.h"

#include <csignal>

#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "test/testing/processes.h"
#include "test/testing/status_matchers.h"

namespace pmi_shim::testutil {
namespace {

using ::testing::HasSubstr;
using ::testing::IsEmpty;

TEST(SubprocessTest, CapturesOutputAndExitCode) {
  absl::StatusOr<RunResult> r =
      RunSubprocess({"sh", "-c", "echo out; echo err >&2; exit 3"}, {}, absl::Seconds(10));
  ASSERT_OK(r);
  EXPECT_EQ(r->exit_code, 3);
  EXPECT_EQ(r->term_signal, 0);
  EXPECT_FALSE(r->timed_out);
  EXPECT_EQ(r->stdout_text, "out\n");
  EXPECT_EQ(r->stderr_text, "err\n");
  EXPECT_LT(r->wall, absl::Seconds(5));
}

TEST(SubprocessTest, PassesExtraEnvironment) {
  absl::StatusOr<RunResult> r =
      RunSubprocess({"sh", "-c", "echo \"$FOO\""}, {{"FOO", "bar baz"}}, absl::Seconds(10));
  ASSERT_OK(r);
  EXPECT_EQ(r->stdout_text, "bar baz\n");
}

TEST(SubprocessTest, UnsetsEnvironment) {
  RunOptions options;
  options.argv = {"sh", "-c", "echo \"[${HOME-unset}]\""};
  options.unset_env = {"HOME"};
  absl::StatusOr<RunResult> r = RunSubprocess(options);
  ASSERT_OK(r);
  EXPECT_EQ(r->stdout_text, "[unset]\n");
}

TEST(SubprocessTest, ReportsSignalDeath) {
  absl::StatusOr<RunResult> r = RunSubprocess({"sh", "-c", "kill -TERM $$"}, {}, absl::Seconds(10));
  ASSERT_OK(r);
  EXPECT_EQ(r->exit_code, -1);
  EXPECT_EQ(r->term_signal, SIGTERM);
  EXPECT_THAT(r->StatusText(), HasSubstr("signal 15"));
}

TEST(SubprocessTest, TimeoutKillsTheWholeProcessGroup) {
  const std::string marker = UniqueMarkerValue();
  // The background sleep is a grandchild: only a group kill reaches it.
  absl::StatusOr<RunResult> r = RunSubprocess({"sh", "-c", "sleep 30 & sleep 30"},
                                              {{kMarkerVar, marker}}, absl::Milliseconds(300));
  ASSERT_OK(r);
  EXPECT_TRUE(r->timed_out);
  EXPECT_LT(r->wall, absl::Seconds(5));
  auto left = ProcessesWithMarker(marker);
  for (int i = 0; i < 50 && !left.empty(); ++i) {  // SIGKILL is asynchronous
    absl::SleepFor(absl::Milliseconds(20));
    left = ProcessesWithMarker(marker);
  }
  EXPECT_THAT(left, IsEmpty());
  KillProcesses(left);
}

TEST(SubprocessTest, DoesNotWaitForDescendantsHoldingThePipes) {
  const std::string marker = UniqueMarkerValue();
  // The child exits at once; its detached grandchild keeps stdout open.
  absl::StatusOr<RunResult> r = RunSubprocess({"sh", "-c", "setsid sleep 30 & echo done"},
                                              {{kMarkerVar, marker}}, absl::Seconds(20));
  ASSERT_OK(r);
  EXPECT_EQ(r->exit_code, 0);
  EXPECT_EQ(r->stdout_text, "done\n");
  EXPECT_LT(r->wall, absl::Seconds(2));
  // The leftover is visible to ProcessesWithMarker.
  auto left = ProcessesWithMarker(marker);
  EXPECT_EQ(left.size(), 1u);
  KillProcesses(left);
}

TEST(SubprocessTest, SendsSignalAfterDelay) {
  RunOptions options;
  options.argv = {"sh", "-c", "trap 'echo got INT; exit 130' INT; sleep 20 & wait"};
  options.signal_after = absl::Milliseconds(300);
  options.signal = SIGINT;
  options.timeout = absl::Seconds(20);
  absl::StatusOr<RunResult> r = RunSubprocess(options);
  ASSERT_OK(r);
  EXPECT_EQ(r->exit_code, 130) << r->Describe();
  EXPECT_EQ(r->stdout_text, "got INT\n");
  ASSERT_TRUE(r->after_signal.has_value());
  EXPECT_LT(*r->after_signal, absl::Seconds(2));
  EXPECT_GE(r->wall, absl::Milliseconds(300));
}

TEST(SubprocessTest, SpawnFailureIsAnError) {
  absl::StatusOr<RunResult> r = RunSubprocess({"/nonexistent/program"}, {}, absl::Seconds(10));
  EXPECT_THAT(r, testutil::StatusIs(::testing::_, HasSubstr("/nonexistent/program")));
}

}  // namespace
}  // namespace pmi_shim::testutil
