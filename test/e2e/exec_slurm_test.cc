// End-to-end: `pmi-bridge exec` as every task of a real Slurm job step,
// `srun -n 4 --mpi=pmi2`, in a private single-node Slurm 22.05
// (test/testing/slurm_cluster.h; one cluster per test, about 0.5 s each).
// With --mpi=pmi2, Slurm's plugin hands each task PMI_FD, PMI_JOBID, PMI_RANK and
// PMI_SIZE and speaks its own dialect (rc= first, "<job>.<step>" kvsname,
// appnum -1); the same programs run directly under srun are the reference.
//
// BridgedPmi2Kvs/auto translates libpmi2's PMI-2 onto Slurm's PMI-1 wire,
// with values up to 1023 bytes; /pmi2 relays PMI-2 as it is.
//
// Skipped (never passed) when no private Slurm can run here: not root,
// Slurm not installed, or inside a sandbox that denies setgroups (hence the
// target's no-sandbox tag).
#include <cstdlib>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "test/e2e/launch_util.h"
#include "test/testing/launcher.h"
#include "test/testing/netns_test_main.h"
#include "test/testing/rank_lines.h"
#include "test/testing/runfiles.h"
#include "test/testing/slurm_cluster.h"
#include "test/testing/status_matchers.h"

namespace pmi_shim::e2e {
namespace {

using ::testing::IsEmpty;
using ::testing::SizeIs;
using testutil::CollectivesText;
using testutil::HasOneLinePerRank;
using testutil::Lines;
using testutil::ProgramPath;

constexpr int kTasks = 4;

class ExecSlurmTest : public ::testing::Test {
 protected:
  void SetUp() override {
    PMI_SHIM_REQUIRE_PRIVATE_NETNS();
    absl::Status available = testutil::SlurmClusterAvailability();
    if (!available.ok()) GTEST_SKIP() << "no private Slurm here: " << available;
  }

  // srun -n 4 --mpi=pmi2 [pmi-bridge exec BRIDGE_FLAGS --] PROGRAM, in a
  // fresh cluster.
  testutil::SlurmRun Srun(bool through_bridge, const std::string& program,
                          std::vector<std::string> bridge_flags = {},
                          const std::string& mpi = "pmi2") {
    return SrunCommand(through_bridge, {ProgramPath(program)}, std::move(bridge_flags), mpi);
  }

  testutil::SlurmRun SrunCommand(bool through_bridge, const std::vector<std::string>& command,
                                 std::vector<std::string> bridge_flags, const std::string& mpi) {
    testutil::JobSpec spec;
    spec.launcher = testutil::Launcher::kSrun;
    spec.ranks = kTasks;
    spec.srun_mpi = mpi;
    spec.command = through_bridge ? testutil::BridgeExec(bridge_flags, command) : command;
    absl::StatusOr<std::vector<std::string>> srun = testutil::LauncherArgv(spec);
    EXPECT_OK(srun);
    if (!srun.ok()) return testutil::SlurmRun{};
    testutil::SlurmRunOptions options;
    options.command = *std::move(srun);
    options.timeout = absl::Seconds(60);
    // Open MPI: loopback is all a private netns has, and its session
    // directory must not meet another test's.
    options.env = {{"OMPI_MCA_btl_tcp_if_include", "lo"}, {"TMPDIR", PrivateTmpdir()}};
    absl::StatusOr<testutil::SlurmRun> run = testutil::RunInSlurmCluster(options);
    EXPECT_OK(run);
    if (!run.ok()) return testutil::SlurmRun{};
    EXPECT_TRUE(run->cluster_started) << run->Describe();
    EXPECT_THAT(run->leftovers_inside, IsEmpty()) << run->Describe();
    // Every process of the job, behind the bridges too, carries the
    // cluster's marker.
    EXPECT_THAT(run->leftovers_outside, IsEmpty()) << run->Describe();
    if (run->ready_time) {
      RecordProperty("slurm_ready_ms",
                     static_cast<int>(absl::ToInt64Milliseconds(*run->ready_time)));
    }
    if (run->stop_time) {
      RecordProperty("slurm_stop_ms", static_cast<int>(absl::ToInt64Milliseconds(*run->stop_time)));
    }
    RecordProperty("cycle_ms", static_cast<int>(absl::ToInt64Milliseconds(run->run.wall)));
    return *std::move(run);
  }

  void ExpectCollectivesOk(const testutil::SlurmRun& run) {
    EXPECT_EQ(run.run.exit_code, 0) << run.Describe();
    EXPECT_THAT(Lines(run.run.stdout_text), SizeIs(kTasks)) << run.Describe();
    EXPECT_THAT(run.run.stdout_text, HasOneLinePerRank(kTasks, CollectivesText(kTasks)))
        << run.Describe();
  }

  void ExpectPmi2KvsOk(const testutil::SlurmRun& run) {
    EXPECT_EQ(run.run.exit_code, 0) << run.Describe();
    EXPECT_THAT(Lines(run.run.stdout_text), SizeIs(kTasks)) << run.Describe();
    // Slurm's mapping for 4 tasks on one node.
    EXPECT_THAT(
        run.run.stdout_text,
        HasOneLinePerRank(kTasks, ::testing::StartsWith("pmi2 ok mapping=(vector,(0,1,4))")))
        << run.Describe();
  }
};

TEST_F(ExecSlurmTest, DirectMpiCollectivesReference) {
  ExpectCollectivesOk(Srun(false, "mpi_collectives"));
}

TEST_F(ExecSlurmTest, DirectPmi2KvsReference) { ExpectPmi2KvsOk(Srun(false, "pmi2_kvs")); }

TEST_F(ExecSlurmTest, BridgedMpiCollectives) { ExpectCollectivesOk(Srun(true, "mpi_collectives")); }

// libpmi2 behind the bridge, with the upstream chosen by the bridge (auto:
// PMI-1 on Slurm's PMI_FD, so PMI-2 is translated) or forced to PMI-2
// (relay + dialect repair).
class ExecSlurmUpstreamTest : public ExecSlurmTest,
                              public ::testing::WithParamInterface<std::string> {};

TEST_P(ExecSlurmUpstreamTest, BridgedPmi2Kvs) {
  ExpectPmi2KvsOk(Srun(true, "pmi2_kvs", {"--upstream", GetParam()}));
}

INSTANTIATE_TEST_SUITE_P(Upstreams, ExecSlurmUpstreamTest, ::testing::Values("auto", "pmi2"),
                         [](const ::testing::TestParamInfo<std::string>& info) {
                           return info.param;
                         });

// Slurm as a PMIx host (`--mpi=pmix`, PMIx 4 over TCP) with PMI clients
// behind the bridge: the bridge is a libpmix client upstream and serves
// PMI-1 (MPICH) or PMI-2 (libpmi2) downstream (design flow 3).
TEST_F(ExecSlurmTest, PmixHostServesMpichThroughTheBridge) {
  ExpectCollectivesOk(Srun(true, "mpi_collectives", {"--downstream", "pmi1"}, "pmix"));
}

TEST_F(ExecSlurmTest, PmixHostServesLibpmi2ThroughTheBridge) {
  ExpectPmi2KvsOk(Srun(true, "pmi2_kvs", {"--downstream", "pmi2"}, "pmix"));
}

// Open MPI 4.1 (PMIx client) under Slurm. With --mpi=pmi2 it cannot join
// directly (it has no PMI-2 client); the bridge hosts a PMIx server for it
// (flow 4). With --mpi=pmix the bridge relays PMIx bytes to Slurm's server.
std::vector<std::string> OmpiCollectives() {
  return {ProgramPath("pmix_ompi_app"), absl::StrCat(kTasks)};
}

TEST_F(ExecSlurmTest, Pmi2HostServesOpenMpiThroughTheBridge) {
  ExpectCollectivesOk(SrunCommand(true, OmpiCollectives(), {"--downstream", "pmix"}, "pmi2"));
}

TEST_F(ExecSlurmTest, DirectOpenMpiUnderPmixReference) {
  ExpectCollectivesOk(SrunCommand(false, OmpiCollectives(), {}, "pmix"));
}

TEST_F(ExecSlurmTest, PmixHostRelaysOpenMpiThroughTheBridge) {
  ExpectCollectivesOk(SrunCommand(true, OmpiCollectives(), {}, "pmix"));
}

}  // namespace
}  // namespace pmi_shim::e2e
