// The private Slurm of slurm_cluster.h: it starts, runs a command in its own
// namespaces with its own configuration, passes the status through and
// leaves nothing behind, even when killed. Skipped (never passed) where no
// cluster can be started.
#include "test/testing/slurm_cluster.h"

#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_split.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "test/testing/runfiles.h"
#include "test/testing/status_matchers.h"
#include "test/testing/subprocess.h"

namespace pmi_shim::testutil {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::StartsWith;

class SlurmClusterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::Status available = SlurmClusterAvailability();
    if (!available.ok()) GTEST_SKIP() << "no private Slurm here: " << available;
  }

  SlurmRun Run(std::vector<std::string> command, absl::Duration timeout = absl::Seconds(60)) {
    SlurmRunOptions options;
    options.command = std::move(command);
    options.timeout = timeout;
    absl::StatusOr<SlurmRun> run = RunInSlurmCluster(options);
    EXPECT_OK(run);
    return run.ok() ? *std::move(run) : SlurmRun{};
  }
};

TEST_F(SlurmClusterTest, RunsAnSrunStepAndStops) {
  SlurmRun run = Run({"srun", "-n", "2", "hostname"});
  ASSERT_EQ(run.run.exit_code, 0) << run.Describe();
  EXPECT_TRUE(run.cluster_started) << run.Describe();
  std::vector<std::string> lines = absl::StrSplit(run.run.stdout_text, '\n', absl::SkipEmpty());
  EXPECT_THAT(lines, ElementsAre("slurmnode", "slurmnode")) << run.Describe();
  ASSERT_TRUE(run.ready_time.has_value()) << run.Describe();
  ASSERT_TRUE(run.stop_time.has_value()) << run.Describe();
  EXPECT_LT(*run.ready_time, absl::Seconds(10)) << run.Describe();
  EXPECT_LT(*run.stop_time, absl::Seconds(10)) << run.Describe();
  EXPECT_THAT(run.leftovers_inside, IsEmpty()) << run.Describe();
  EXPECT_THAT(run.leftovers_outside, IsEmpty()) << run.Describe();
  // Seen in the test log: how long a cycle costs on this machine.
  RecordProperty("ready_ms", static_cast<int>(absl::ToInt64Milliseconds(*run.ready_time)));
  RecordProperty("stop_ms", static_cast<int>(absl::ToInt64Milliseconds(*run.stop_time)));
  RecordProperty("cycle_ms", static_cast<int>(absl::ToInt64Milliseconds(run.run.wall)));
}

TEST_F(SlurmClusterTest, CommandSeesOnlyThePrivateNamespaces) {
  SlurmRun run = Run({"bash", "-c",
                      "echo conf=$SLURM_CONF; echo host=$(hostname); "
                      "echo links=$(ip -o link show | wc -l); "
                      "echo resolv=$(wc -c </etc/resolv.conf); echo pid=$$"});
  ASSERT_EQ(run.run.exit_code, 0) << run.Describe();
  EXPECT_THAT(run.run.stdout_text, HasSubstr("conf=/tmp/pmi-shim-slurm-")) << run.Describe();
  EXPECT_THAT(run.run.stdout_text, HasSubstr("/slurm.conf\n")) << run.Describe();
  EXPECT_THAT(run.run.stdout_text, HasSubstr("host=slurmnode\n"));
  EXPECT_THAT(run.run.stdout_text, HasSubstr("links=1\n"));   // lo only
  EXPECT_THAT(run.run.stdout_text, HasSubstr("resolv=0\n"));  // no DNS server at all
  // Small pids: a pid namespace of its own.
  EXPECT_THAT(run.run.stdout_text, ::testing::ContainsRegex("pid=[0-9]{1,3}\n"));
}

TEST_F(SlurmClusterTest, CommandStatusIsPassedThrough) {
  SlurmRun run = Run({"bash", "-c", "echo out; echo err >&2; exit 3"});
  EXPECT_EQ(run.run.exit_code, 3) << run.Describe();
  EXPECT_EQ(run.run.stdout_text, "out\n");
  EXPECT_THAT(run.run.stderr_text, HasSubstr("err\n"));
  EXPECT_TRUE(run.cluster_started);
  EXPECT_THAT(run.leftovers_inside, IsEmpty());
}

TEST_F(SlurmClusterTest, KilledMidStepLeavesNothingBehind) {
  // The test's own deadline kills unshare; --kill-child takes the pid
  // namespace, daemons and the running step with it.
  SlurmRun run = Run({"srun", "-n", "2", "sleep", "60"}, absl::Seconds(3));
  EXPECT_TRUE(run.run.timed_out) << run.Describe();
  EXPECT_TRUE(run.cluster_started) << run.Describe();
  EXPECT_THAT(run.leftovers_outside, IsEmpty()) << run.Describe();
}

TEST_F(SlurmClusterTest, ScriptRefusesToRunOutsideItsNamespaces) {
  // Straight from the test's own namespaces: the guard must stop it before
  // any Slurm program runs.
  absl::StatusOr<std::string> script = Runfile("test/testing/slurm-ns.sh");
  ASSERT_OK(script);
  absl::StatusOr<RunResult> run = RunSubprocess(
      {"bash", *script, "/tmp/pmi-shim-slurm-never", "4", "true"}, {}, absl::Seconds(10));
  ASSERT_OK(run);
  EXPECT_EQ(run->exit_code, 125) << run->Describe();
  EXPECT_THAT(run->stderr_text, StartsWith("slurm-ns: not pid 1")) << run->Describe();
}

}  // namespace
}  // namespace pmi_shim::testutil
