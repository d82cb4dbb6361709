// End-to-end: a PMIx v1.2 client (OpenPMIx 1.2.5 from the peers lab, which
// speaks only the usock wire) joins real hosts' jobs through
// `pmi-bridge exec`, which serves it natively (PmixV1Server):
//
//   host                                   bridge                     client
//   mpiexec.hydra (PMI-1; fd and port)     auto (reads the program)   pmix_v1_client
//   mpirun.openmpi (PMIx 4.2.2)            auto                       pmix_v1_client
//   private Slurm, srun --mpi=pmi2 / pmix  auto                       pmix_v1_client
//
// 4 ranks each: init, put K keys, commit, fence with collection (and
// without: direct gets), get every key of every rank, finalize; every rank
// must print its OK line with the job size. The direct runs are references
// that must fail: a v1.2 client finds no server it can speak to (under a
// PMIx host SERVER-NOT-AVAIL, the failure the issue reports). Failure
// paths: an abort with a code and message, and a rank leaving before the
// fence while the others wait in it: the job ends by itself, quickly, with
// one line naming the rank and nothing left behind.
#include <sys/types.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "test/e2e/exec_util.h"
#include "test/e2e/launch_util.h"
#include "test/testing/files.h"
#include "test/testing/launcher.h"
#include "test/testing/netns_test_main.h"
#include "test/testing/processes.h"
#include "test/testing/rank_lines.h"
#include "test/testing/runfiles.h"
#include "test/testing/slurm_cluster.h"
#include "test/testing/status_matchers.h"

namespace pmi_shim::e2e {
namespace {

using ::testing::HasSubstr;
using ::testing::IsEmpty;
using testutil::BridgeExec;
using testutil::JobResult;
using testutil::JobSpec;
using testutil::Launcher;
using testutil::Lines;
using testutil::ModeName;
using testutil::PmiMode;
using testutil::ProgramPath;
using testutil::ReadFile;

constexpr int kRanks = 4;
constexpr absl::Duration kFailureLimit = absl::Seconds(15);

bool LabInstalled() {
  return ::access("/opt/pmi-shim-peers/openpmix-1.2.5/lib/libpmix.so.2", R_OK) == 0;
}

std::string Client() { return ProgramPath("pmix_v1_client"); }

JobSpec Hydra(PmiMode mode, std::vector<std::string> command) {
  JobSpec spec;
  spec.launcher = Launcher::kHydra;
  spec.ranks = kRanks;
  spec.mode = mode;
  spec.command = std::move(command);
  return spec;
}

// Open MPI's mpirun (the harness keeps it on loopback, 4 ranks on 2 cores).
JobSpec Mpirun(std::vector<std::string> command) {
  JobSpec spec;
  spec.launcher = Launcher::kOpenMpi;
  spec.ranks = kRanks;
  spec.command = std::move(command);
  return spec;
}

// Runs `spec` with what every PMIx job here needs (AddPmixJobEnv).
JobResult RunPmixJob(JobSpec spec, absl::Duration timeout = absl::Seconds(60)) {
  AddPmixJobEnv(spec);
  spec.timeout = timeout;
  return RunOrAddFailure(spec);
}

int CountLinesStartingWith(absl::string_view text, absl::string_view prefix) {
  int count = 0;
  for (const std::string& line : Lines(text)) count += absl::StartsWith(line, prefix) ? 1 : 0;
  return count;
}

// Every rank printed its OK line: the job's size, every peer local (one
// node), and all keys of all ranks read back.
void ExpectEveryRankOk(const testutil::RunResult& run, int keys_per_rank) {
  EXPECT_FALSE(run.timed_out) << run.Describe();
  EXPECT_EQ(run.exit_code, 0) << run.Describe();
  for (int rank = 0; rank < kRanks; ++rank) {
    EXPECT_EQ(CountLinesStartingWith(
                  run.stdout_text,
                  absl::StrFormat("OK rank %d size %d peers 0,1,2,3 host ", rank, kRanks)),
              1)
        << "rank " << rank << "\n"
        << run.Describe();
  }
  EXPECT_EQ(CountLinesStartingWith(run.stdout_text, "OK rank "), kRanks) << run.Describe();
  EXPECT_THAT(run.stdout_text, HasSubstr(absl::StrCat(" keys ", kRanks * keys_per_rank)))
      << run.Describe();
  EXPECT_EQ(CountLinesStartingWith(run.stdout_text, "FAIL"), 0) << run.Describe();
}

void ExpectNoLeftovers(const JobResult& out) {
  EXPECT_THAT(out.leftovers, IsEmpty()) << "processes still running after the launcher exited";
}

class ExecPmixV1Test : public ::testing::Test {
 protected:
  void SetUp() override {
    PMI_SHIM_REQUIRE_PRIVATE_NETNS();
    if (!LabInstalled()) GTEST_SKIP() << "the peers lab's OpenPMIx 1.2.5 is not installed";
  }
};

class ExecPmixV1HydraTest : public ::testing::TestWithParam<PmiMode> {
 protected:
  void SetUp() override {
    PMI_SHIM_REQUIRE_PRIVATE_NETNS();
    if (!LabInstalled()) GTEST_SKIP() << "the peers lab's OpenPMIx 1.2.5 is not installed";
  }
};

std::string ModeTestName(const ::testing::TestParamInfo<PmiMode>& info) {
  return ModeName(info.param);
}

std::string RawClient() {
  absl::StatusOr<std::string> path = testutil::Runfile("test/programs/pmix_v1_raw_client");
  return path.ok() ? *path : "pmix_v1_raw_client";
}

// ---- mpiexec.hydra ----

TEST_P(ExecPmixV1HydraTest, ReferenceDirectRunFails) {
  JobResult out = RunPmixJob(Hydra(GetParam(), {Client()}));
  EXPECT_FALSE(out.run.timed_out) << out.run.Describe();
  EXPECT_NE(out.run.exit_code, 0) << out.run.Describe();
  EXPECT_EQ(CountLinesStartingWith(out.run.stdout_text, "FAIL PMIx_Init rc="), kRanks)
      << out.run.Describe();
  ExpectNoLeftovers(out);
}

TEST_P(ExecPmixV1HydraTest, AutoServesTheV1ClientAndEveryKeyArrives) {
  JobResult out = RunPmixJob(Hydra(GetParam(), BridgeExec({}, {Client(), "--keys", "8"})));
  ExpectEveryRankOk(out.run, 8);
  ExpectNoLeftovers(out);
}

TEST_P(ExecPmixV1HydraTest, DirectGetsWithoutCollection) {
  JobResult out = RunPmixJob(
      Hydra(GetParam(), BridgeExec({"--downstream", "pmix1"}, {Client(), "--no-collect"})));
  ExpectEveryRankOk(out.run, 1);
  ExpectNoLeftovers(out);
}

INSTANTIATE_TEST_SUITE_P(Modes, ExecPmixV1HydraTest,
                         ::testing::Values(PmiMode::kFd, PmiMode::kPort), ModeTestName);

// Rank 1 calls PMIx_Abort(7, "pmix v1 abort test") while the others wait
// in the fence: hydra ends the job with the code; the bridge says why.
// (The bridges also log to a file: hydra may end the job before it has
// forwarded the aborting bridge's stderr.)
TEST_F(ExecPmixV1Test, HydraAbortEndsTheJobWithItsCodeAndMessage) {
  const std::string log_file = PrivateTmpdir() + "/bridges.abort.log";
  ::unlink(log_file.c_str());
  JobResult out = RunPmixJob(
      Hydra(PmiMode::kFd, BridgeExec({"--log-file", log_file}, {Client(), "--abort", "7"})),
      absl::Seconds(30));
  EXPECT_FALSE(out.run.timed_out) << out.run.Describe();
  EXPECT_LT(out.run.wall, kFailureLimit) << out.run.Describe();
  EXPECT_EQ(out.run.exit_code, 7) << out.run.Describe();
  EXPECT_THAT(ReadFile(log_file),
              HasSubstr("rank 1: aborted the job with exit code 7: pmix v1 abort test"))
      << out.run.Describe();
  ExpectNoLeftovers(out);
}

// Rank 2 exits (status 3) after its commit, without PMIx_Finalize, while
// the others are in the fence: the job ends, and one line names rank 2.
TEST_F(ExecPmixV1Test, HydraRankLeavingMidFenceEndsTheJob) {
  const std::string log_file = PrivateTmpdir() + "/bridges.leave.log";
  ::unlink(log_file.c_str());
  JobResult out = RunPmixJob(
      Hydra(PmiMode::kFd,
            BridgeExec({"--log-file", log_file}, {Client(), "--exit-before-fence", "2"})),
      absl::Seconds(30));
  EXPECT_FALSE(out.run.timed_out) << out.run.Describe();
  EXPECT_LT(out.run.wall, kFailureLimit) << out.run.Describe();
  EXPECT_NE(out.run.exit_code, 0) << out.run.Describe();
  EXPECT_THAT(ReadFile(log_file), HasSubstr("\"msg\":\"rank 2: ")) << out.run.Describe();
  EXPECT_EQ(CountLinesStartingWith(out.run.stdout_text, "OK rank"), 0) << out.run.Describe();
  ExpectNoLeftovers(out);
}

// ---- bad input: rank 1 misbehaves (pmix_v1_raw_client), the others wait
// in the fence; the job ends by itself, with one line naming rank 1 ----

class ExecPmixV1BadInputTest : public ExecPmixV1Test {
 protected:
  // The bridges also log to a file: hydra may end the job before it has
  // forwarded the aborting bridge's stderr.
  JobResult RunBadRank(const std::string& mode) {
    log_file_ = absl::StrCat(PrivateTmpdir(), "/bridges.", mode, ".log");
    ::unlink(log_file_.c_str());
    return RunPmixJob(
        Hydra(PmiMode::kFd, BridgeExec({"--downstream", "pmix1", "--log-file", log_file_},
                                       {RawClient(), mode, "1"})),
        absl::Seconds(30));
  }

  std::string BridgeLog() const { return ReadFile(log_file_); }

  // Ended non-zero, quickly, nothing left, and exactly one bridge line
  // about rank 1's client that contains `what`.
  void ExpectJobEndedNamingRank1(const JobResult& out, absl::string_view what) {
    EXPECT_FALSE(out.run.timed_out) << out.run.Describe();
    EXPECT_LT(out.run.wall, kFailureLimit) << out.run.Describe();
    EXPECT_NE(out.run.exit_code, 0) << out.run.Describe();
    const std::string log = BridgeLog();
    int lines = 0;
    for (const std::string& line : Lines(log)) {
      lines += absl::StrContains(line, "\"msg\":\"rank 1: PMIx v1 client") ? 1 : 0;
    }
    EXPECT_EQ(lines, 1) << log << out.run.Describe();
    EXPECT_THAT(log, HasSubstr(what)) << out.run.Describe();
    EXPECT_EQ(CountLinesStartingWith(out.run.stdout_text, "rank 0: finalized"), 0)
        << out.run.Describe();
    ExpectNoLeftovers(out);
  }

  std::string log_file_;
};

TEST_F(ExecPmixV1BadInputTest, OversizedLengthEndsTheJob) {
  ExpectJobEndedNamingRank1(RunBadRank("oversize"), "announced, the limit is");
}

TEST_F(ExecPmixV1BadInputTest, MalformedHeaderEndsTheJob) {
  ExpectJobEndedNamingRank1(RunBadRank("bad-header"), "malformed message header");
}

TEST_F(ExecPmixV1BadInputTest, ClaimingAnotherRankIsRefused) {
  JobResult out = RunBadRank("other-rank");
  ExpectJobEndedNamingRank1(out, "a client claimed rank 2");
  EXPECT_THAT(out.run.stdout_text,
              HasSubstr("rank 1: claiming rank 2 was refused with status -44"));
}

// Whichever the bridge notices first, the closed socket or the exit, one
// line names rank 1 and says it left without PMIx_Finalize.
TEST_F(ExecPmixV1BadInputTest, LeavingInTheFenceEndsTheJob) {
  JobResult out = RunBadRank("leave-in-fence");
  EXPECT_FALSE(out.run.timed_out) << out.run.Describe();
  EXPECT_LT(out.run.wall, kFailureLimit) << out.run.Describe();
  EXPECT_NE(out.run.exit_code, 0) << out.run.Describe();
  const std::string log = BridgeLog();
  EXPECT_THAT(log, HasSubstr("\"msg\":\"rank 1: the PMIx v1 client ")) << out.run.Describe();
  EXPECT_THAT(log, ::testing::ContainsRegex("before PMIx_Finalize|without calling PMIx_Finalize"))
      << log;
  ExpectNoLeftovers(out);
}

// An unknown command is answered with NOT_SUPPORTED and logged; the client
// goes on and the job succeeds.
TEST_F(ExecPmixV1BadInputTest, UnknownCommandIsAnsweredAndTheJobGoesOn) {
  JobResult out = RunBadRank("unknown");
  EXPECT_EQ(out.run.exit_code, 0) << out.run.Describe();
  EXPECT_THAT(out.run.stdout_text, HasSubstr("rank 1: command 99 answered with status -47"));
  for (int rank = 0; rank < kRanks; ++rank) {
    EXPECT_THAT(out.run.stdout_text, HasSubstr(absl::StrCat("rank ", rank, ": finalized")))
        << out.run.Describe();
  }
  EXPECT_THAT(out.run.stderr_text,
              HasSubstr("pmi-bridge: rank 1: PMIx v1 client: command 99 is not supported"))
      << out.run.Describe();
  ExpectNoLeftovers(out);
}

// ---- no host: pmi-bridge launch serves the ranks itself ----

TEST_F(ExecPmixV1Test, LaunchServesV1ClientsFromItsEmbeddedHost) {
  JobSpec spec;
  spec.launcher = Launcher::kBridgeLaunch;
  spec.ranks = kRanks;
  spec.launcher_flags = {"--protocol", "pmix1"};
  spec.command = {Client(), "--keys", "8"};
  JobResult out = RunPmixJob(spec);
  ExpectEveryRankOk(out.run, 8);
  ExpectNoLeftovers(out);
}

// ---- mpirun.openmpi (a PMIx 4.2.2 server: TCP only, no usock) ----

TEST_F(ExecPmixV1Test, ReferenceDirectRunUnderMpirunIsServerNotAvailable) {
  JobResult out = RunPmixJob(Mpirun({Client()}));
  EXPECT_FALSE(out.run.timed_out) << out.run.Describe();
  EXPECT_NE(out.run.exit_code, 0) << out.run.Describe();
  EXPECT_THAT(out.run.stdout_text, HasSubstr("FAIL PMIx_Init rc=-45 (SERVER-NOT-AVAIL)"))
      << out.run.Describe();
  ExpectNoLeftovers(out);
}

TEST_F(ExecPmixV1Test, MpirunHostServesTheV1ClientThroughTheBridge) {
  JobResult out = RunPmixJob(Mpirun(BridgeExec({}, {Client(), "--keys", "8"})));
  ExpectEveryRankOk(out.run, 8);
  ExpectNoLeftovers(out);
}

// ---- a private Slurm ----

class ExecPmixV1SlurmTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    PMI_SHIM_REQUIRE_PRIVATE_NETNS();
    if (!LabInstalled()) GTEST_SKIP() << "the peers lab's OpenPMIx 1.2.5 is not installed";
    absl::Status available = testutil::SlurmClusterAvailability();
    if (!available.ok()) GTEST_SKIP() << "no private Slurm here: " << available;
  }

  // srun -n 4 --mpi=MPI [pmi-bridge exec --] pmix_v1_client ARGS.
  testutil::SlurmRun Srun(bool through_bridge, std::vector<std::string> args) {
    std::vector<std::string> command = {Client()};
    command.insert(command.end(), args.begin(), args.end());
    JobSpec spec;
    spec.launcher = Launcher::kSrun;
    spec.ranks = kRanks;
    spec.srun_mpi = GetParam();
    spec.command = through_bridge ? BridgeExec({}, command) : command;
    absl::StatusOr<std::vector<std::string>> srun = testutil::LauncherArgv(spec);
    EXPECT_OK(srun);
    if (!srun.ok()) return testutil::SlurmRun{};
    testutil::SlurmRunOptions options;
    options.command = *std::move(srun);
    options.timeout = absl::Seconds(60);
    options.env = {{"TMPDIR", PrivateTmpdir()}};
    absl::StatusOr<testutil::SlurmRun> run = testutil::RunInSlurmCluster(options);
    EXPECT_OK(run);
    if (!run.ok()) return testutil::SlurmRun{};
    EXPECT_TRUE(run->cluster_started) << run->Describe();
    EXPECT_THAT(run->leftovers_inside, IsEmpty()) << run->Describe();
    // Every process of the job, behind the bridges too, carries the
    // cluster's marker.
    EXPECT_THAT(run->leftovers_outside, IsEmpty()) << run->Describe();
    return *std::move(run);
  }
};

TEST_P(ExecPmixV1SlurmTest, ReferenceDirectRunFails) {
  testutil::SlurmRun run = Srun(false, {});
  EXPECT_NE(run.run.exit_code, 0) << run.Describe();
  EXPECT_EQ(CountLinesStartingWith(run.run.stdout_text, "FAIL PMIx_Init rc="), kRanks)
      << run.Describe();
  if (GetParam() == "pmix") {
    EXPECT_THAT(run.run.stdout_text, HasSubstr("rc=-45 (SERVER-NOT-AVAIL)")) << run.Describe();
  }
}

TEST_P(ExecPmixV1SlurmTest, SrunServesTheV1ClientThroughTheBridge) {
  testutil::SlurmRun run = Srun(true, {"--keys", "8"});
  ExpectEveryRankOk(run.run, 8);
}

INSTANTIATE_TEST_SUITE_P(Plugins, ExecPmixV1SlurmTest, ::testing::Values("pmi2", "pmix"),
                         [](const ::testing::TestParamInfo<std::string>& info) {
                           return info.param;
                         });

}  // namespace
}  // namespace pmi_shim::e2e
