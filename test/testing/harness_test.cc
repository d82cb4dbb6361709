// The test harness itself: launcher command lines, the job runner with a
// stand-in launcher, the /proc scanner, the rank-line matcher, program paths
// and ReadFile.
#include <stdlib.h>
#include <sys/stat.h>

#include <fstream>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "test/testing/files.h"
#include "test/testing/launcher.h"
#include "test/testing/processes.h"
#include "test/testing/rank_lines.h"
#include "test/testing/runfiles.h"
#include "test/testing/status_matchers.h"
#include "test/testing/subprocess.h"

namespace pmi_shim::testutil {
namespace {

using ::testing::Contains;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;
using ::testing::SizeIs;
using ::testing::StartsWith;

std::string TestTmpdir() {
  const char* dir = getenv("TEST_TMPDIR");
  return dir != nullptr ? dir : "/tmp";
}

// ---- Launcher command lines ----

TEST(LauncherArgvTest, Hydra) {
  JobSpec spec;
  spec.ranks = 3;
  spec.command = {"app", "arg"};
  EXPECT_THAT(LauncherArgv(spec),
              IsOkAndHolds(ElementsAre("/usr/bin/mpiexec.hydra", "-n", "3", "app", "arg")));
  spec.mode = PmiMode::kPort;
  spec.launcher_flags = {"-genv", "K", "V"};
  EXPECT_THAT(LauncherArgv(spec),
              IsOkAndHolds(ElementsAre("/usr/bin/mpiexec.hydra", "-pmi-port", "-genv", "K", "V",
                                       "-n", "3", "app", "arg")));
}

TEST(LauncherArgvTest, OpenMpiOnOneNodeStaysOnLoopback) {
  JobSpec spec;
  spec.launcher = Launcher::kOpenMpi;
  spec.launcher_flags = {"--mca", "btl", "self,vader"};
  spec.command = {"app"};
  EXPECT_THAT(
      LauncherArgv(spec),
      IsOkAndHolds(ElementsAre("/usr/bin/mpirun.openmpi", "--allow-run-as-root", "--oversubscribe",
                               "--mca", "btl", "self,vader", "-n", "4", "app")));
}

TEST(LauncherArgvTest, PeerMpirunByPath) {
  JobSpec spec;
  spec.launcher = Launcher::kOpenMpi;
  spec.program = "/opt/pmi-shim-peers/openmpi-5.0.10/bin/mpirun";
  spec.command = {"app"};
  ASSERT_OK_AND_ASSIGN(std::vector<std::string> argv, LauncherArgv(spec));
  EXPECT_EQ(argv.front(), spec.program);
  EXPECT_EQ(argv.back(), "app");
}

TEST(LauncherArgvTest, SeveralHostsThroughAnRshAgent) {
  JobSpec spec;
  spec.hosts = {"node0:2", "node1:2"};
  spec.rsh_agent = "/tmp/cluster/rsh";
  spec.command = {"app"};
  EXPECT_THAT(
      LauncherArgv(spec),
      IsOkAndHolds(ElementsAre("/usr/bin/mpiexec.hydra", "-hosts", "node0:2,node1:2", "-launcher",
                               "ssh", "-launcher-exec", "/tmp/cluster/rsh", "-n", "4", "app")));
  spec.launcher = Launcher::kOpenMpi;
  ASSERT_OK_AND_ASSIGN(std::vector<std::string> mpirun, LauncherArgv(spec));
  EXPECT_THAT(mpirun, Not(Contains("oob_tcp_if_include"))) << "loopback is one node only";
  EXPECT_THAT(mpirun, Contains("node0:2,node1:2"));
  EXPECT_THAT(mpirun, Contains("plm_rsh_agent"));
  spec.launcher = Launcher::kSrun;
  EXPECT_THAT(LauncherArgv(spec),
              IsOkAndHolds(ElementsAre("srun", "-n", "4", "--mpi=pmi2", "--nodes=2",
                                       "--nodelist=node0,node1", "app")));
  spec.launcher = Launcher::kBridgeLaunch;
  EXPECT_THAT(LauncherArgv(spec), StatusIs(absl::StatusCode::kInvalidArgument,
                                           HasSubstr("every rank on this machine")));
}

TEST(LauncherArgvTest, SrunAndBridgeLaunch) {
  JobSpec spec;
  spec.launcher = Launcher::kSrun;
  spec.srun_mpi = "pmix";
  spec.command = {"app"};
  EXPECT_THAT(LauncherArgv(spec),
              IsOkAndHolds(ElementsAre("srun", "-n", "4", "--mpi=pmix", "app")));
  spec.launcher = Launcher::kBridgeLaunch;
  spec.mode = PmiMode::kPort;
  spec.launcher_flags = {"--protocol", "pmi2"};
  EXPECT_THAT(LauncherArgv(spec),
              IsOkAndHolds(ElementsAre(BridgePath(), "launch", "-n", "4", "--pmi-port",
                                       "--protocol", "pmi2", "--", "app")));
}

TEST(LauncherArgvTest, BridgeExec) {
  EXPECT_THAT(BridgeExec({"--downstream", "pmix"}, {"app", "1"}, "/b/pmi-bridge"),
              ElementsAre("/b/pmi-bridge", "exec", "--downstream", "pmix", "--", "app", "1"));
  EXPECT_EQ(BridgeExec({}, {"app"}).front(), BridgePath());
}

// ---- The runner, with a shell script standing in for the launcher ----

// A "launcher" that prints what it got and leaves a process behind.
std::string WriteStandInLauncher() {
  const std::string path = TestTmpdir() + "/stand-in-launcher";
  std::ofstream(path) << "#!/bin/sh\n"
                         "echo \"args=$*\"\n"
                         "echo \"marker=${SHIM_TEST_MARKER:+set} fd=${PMI_FD-unset} "
                         "extra=${EXTRA-unset}\"\n"
                         "sleep 30 &\n"
                         "exit 3\n";
  chmod(path.c_str(), 0755);
  return path;
}

TEST(RunJobTest, RunsTheLauncherMarkedAndCleanAndCollectsLeftovers) {
  setenv("PMI_FD", "9", 1);  // as if the test itself ran under a launcher
  JobSpec spec;
  spec.launcher = Launcher::kBridgeLaunch;
  spec.program = WriteStandInLauncher();
  spec.ranks = 2;
  spec.command = {"app"};
  spec.env = {{"EXTRA", "yes"}};
  spec.timeout = absl::Seconds(20);
  ASSERT_OK_AND_ASSIGN(JobResult out, RunJob(spec));
  unsetenv("PMI_FD");
  EXPECT_EQ(out.run.exit_code, 3) << out.Describe();
  EXPECT_THAT(Lines(out.run.stdout_text),
              ElementsAre("args=launch -n 2 -- app", "marker=set fd=unset extra=yes"));
  ASSERT_THAT(out.leftovers, SizeIs(1)) << out.Describe();
  EXPECT_EQ(out.leftovers[0].CommandLine(), "sleep 30");
  EXPECT_FALSE(IsRunning(out.leftovers[0].pid)) << "leftovers are killed";
  EXPECT_THAT(out.Describe(), HasSubstr("left behind: pid"));
}

TEST(RunJobTest, ErrorsWhenNothingCanRun) {
  JobSpec spec;
  spec.program = "/nonexistent/mpiexec";
  EXPECT_THAT(RunJob(spec), StatusIs(absl::StatusCode::kNotFound, HasSubstr("/nonexistent")));
  spec.launcher = Launcher::kSrun;
  EXPECT_THAT(RunJob(spec),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("RunInSlurmCluster")));
}

TEST(RunJobTest, RunOptionsCarryTheMarkerAndDropOuterLaunchers) {
  JobSpec spec;
  spec.command = {"app"};
  spec.unset_env = {"TMPDIR"};
  spec.signal_after = absl::Seconds(1);
  ASSERT_OK_AND_ASSIGN(RunOptions options, JobRunOptions(spec, "m-1"));
  EXPECT_THAT(options.env, Contains(std::make_pair(std::string(kMarkerVar), std::string("m-1"))));
  EXPECT_THAT(options.unset_env, Contains("PMIX_SERVER_URI41"));
  EXPECT_THAT(options.unset_env, Contains("PMI_SHIM_DIR"));
  EXPECT_THAT(options.unset_env, Contains("TMPDIR"));
  EXPECT_EQ(options.signal_after, absl::Seconds(1));
}

// ---- The /proc scanner ----

TEST(ProcessesTest, FindsMarkedProcessesByMarkerAndCommandLine) {
  const std::string marker = UniqueMarkerValue();
  const std::string other = UniqueMarkerValue();
  ASSERT_OK_AND_ASSIGN(RunResult run,
                       RunSubprocess({"sh", "-c", "PMI_RANK=2 setsid sleep 31 & echo started"},
                                     {{kMarkerVar, marker}}, absl::Seconds(10)));
  ASSERT_EQ(run.exit_code, 0) << run.Describe();
  std::vector<ProcessInfo> found = ProcessesWithMarker(marker);
  ASSERT_THAT(found, SizeIs(1));
  EXPECT_THAT(found[0].argv, ElementsAre("sleep", "31"));
  EXPECT_EQ(found[0].Rank(), 2);
  EXPECT_TRUE(found[0].Runs("sleep"));
  EXPECT_FALSE(found[0].Runs("sle"));
  EXPECT_THAT(ProcessesWithMarker(other), IsEmpty());
  EXPECT_THAT(ProcessesWithMarker(marker.substr(0, marker.size() - 1)), IsEmpty())
      << "whole values only";
  EXPECT_THAT(ProcessesWithCmdline("sleep 31"),
              Contains(::testing::Field(&ProcessInfo::pid, found[0].pid)));
  EXPECT_EQ(::testing::PrintToString(found[0]), absl::StrCat("pid ", found[0].pid, ": sleep 31"));

  const absl::Time start = absl::Now();
  std::vector<ProcessInfo> left = CollectLeftovers(marker, absl::Milliseconds(100));
  EXPECT_THAT(left, SizeIs(1));
  EXPECT_LT(absl::Now() - start, absl::Seconds(2));
  EXPECT_FALSE(IsRunning(found[0].pid));
  EXPECT_THAT(CollectLeftovers(marker), IsEmpty());
}

// ---- Rank lines ----

TEST(RankLinesTest, ParsesRankLines) {
  std::optional<RankLine> line = ParseRankLine("rank 3 of 4: allreduce=10 allgather=ok");
  ASSERT_TRUE(line.has_value());
  EXPECT_EQ(line->rank, 3);
  EXPECT_EQ(line->size, 4);
  EXPECT_EQ(line->text, "allreduce=10 allgather=ok");
  EXPECT_FALSE(ParseRankLine("rank 3 of 4, PMI-1 (wire 1.1)").has_value());
  EXPECT_FALSE(ParseRankLine("ranks 3 of 4: x").has_value());
  EXPECT_THAT(Lines("a\nb\n"), ElementsAre("a", "b"));
  EXPECT_THAT(LinesStartingWith("rank 0\nx\nrank 1\n", "rank "), ElementsAre("rank 0", "rank 1"));
}

TEST(RankLinesTest, OneLinePerRankWithTheSizeOfTheJob) {
  const std::string good = "noise\nrank 1 of 2: ok 1\nrank 0 of 2: ok 0\n";
  EXPECT_THAT(good, HasOneLinePerRank(2, StartsWith("ok ")));
  EXPECT_THAT(good, HasOneLinePerRank(2, [](int rank) { return absl::StrCat("ok ", rank); }));
  EXPECT_THAT(good, Not(HasOneLinePerRank(2, "ok 0")));
  EXPECT_THAT(good, Not(HasOneLinePerRank(3, StartsWith("ok "))));
  EXPECT_THAT("rank 0 of 1: ok\nrank 0 of 1: ok\n", Not(HasOneLinePerRank(2, "ok")))
      << "singletons";
  EXPECT_THAT("rank 0 of 2: ok\nrank 0 of 2: ok\nrank 1 of 2: ok\n",
              Not(HasOneLinePerRank(2, "ok")))
      << "twice";
  EXPECT_THAT("rank 0 of 2: ok\nrank 1 of 2: ok\nrank 2 of 2: ok\n",
              Not(HasOneLinePerRank(2, "ok")));
  EXPECT_THAT("rank 0 of 2: ok\nrank 1 of 2: ok\nrank x\n", Not(HasOneLinePerRank(2, "ok")));
}

TEST(RankLinesTest, ExplainsEveryProblem) {
  ::testing::StringMatchResultListener why;
  ::testing::Matcher<const std::string&> matcher = HasOneLinePerRank(2, "ok");
  EXPECT_FALSE(matcher.MatchAndExplain("rank 0 of 1: ok\nrank 1 of 2: bad\n", &why));
  EXPECT_THAT(why.str(), HasSubstr("another job size (singletons?): rank 0 of 1: ok"));
  EXPECT_THAT(why.str(), HasSubstr("rank 0 printed 0 lines"));
  EXPECT_THAT(why.str(), HasSubstr("rank 1 printed \"bad\", which should "));
}

// ---- Program paths and files ----

TEST(ProgramPathTest, FallsBackToTheWorkspacePathWhenNotInTheRunfiles) {
  // Not in this test's data: the path still names what is missing.
  EXPECT_THAT(ProgramPath("mpi_collectives"), HasSubstr("test/programs/bin/mpi_collectives"));
  EXPECT_THAT(ProgramPath("pmix_probe"), HasSubstr("bridge/downstream/pmix_probe"));
  EXPECT_THAT(BridgePath(), HasSubstr("bridge/cli/pmi-bridge"));
}

TEST(ReadFileTest, ReadsWholeFilesAndMissingOnesAsEmpty) {
  const std::string path = TestTmpdir() + "/read-file-test";
  const std::string text(20000, 'x');
  std::ofstream(path) << text;
  EXPECT_EQ(ReadFile(path), text);
  EXPECT_EQ(ReadFile(path + ".missing"), "");
  EXPECT_THAT(ReadFile("/proc/self/status"), HasSubstr("Pid:"));
}

}  // namespace
}  // namespace pmi_shim::testutil
