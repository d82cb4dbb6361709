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
#include <algorithm>
#include <cstdlib>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "test/e2e/exec_util.h"
#include "test/e2e/launch_util.h"
#include "test/testing/netns_test_main.h"
#include "test/testing/processes.h"
#include "test/testing/runfiles.h"
#include "test/testing/slurm_cluster.h"

namespace pmi_shim::e2e {
namespace {

using ::testing::IsEmpty;

constexpr int kTasks = 4;

int CountLinesStartingWith(absl::string_view text, absl::string_view prefix) {
  std::vector<std::string> lines = Lines(text);
  return static_cast<int>(std::count_if(lines.begin(), lines.end(), [&](const std::string& l) {
    return absl::StartsWith(l, prefix);
  }));
}

class ExecSlurmTest : public ::testing::Test {
 protected:
  void SetUp() override {
    PMI_SHIM_REQUIRE_PRIVATE_NETNS();
    absl::Status available = testutil::SlurmClusterAvailability();
    if (!available.ok()) GTEST_SKIP() << "no private Slurm here: " << available;
    absl::StatusOr<std::string> bridge = BridgePath();
    ASSERT_TRUE(bridge.ok()) << bridge.status();
    bridge_ = *bridge;
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
    testutil::SlurmRunOptions options;
    options.command = {"srun", "-n", absl::StrCat(kTasks), absl::StrCat("--mpi=", mpi)};
    if (through_bridge) {
      options.command.insert(options.command.end(), {bridge_, "exec"});
      options.command.insert(options.command.end(), bridge_flags.begin(), bridge_flags.end());
      options.command.push_back("--");
    }
    options.command.insert(options.command.end(), command.begin(), command.end());
    options.timeout = absl::Seconds(60);
    // Also for the processes started behind pmi-bridge (which drops PMI_*
    // variables, the default marker among them).
    const std::string marker = testutil::UniqueMarkerValue();
    options.env = {{kExecMarkerVar, marker},
                   // Open MPI: loopback is all a private netns has, and its
                   // session directory must not meet another test's.
                   {"OMPI_MCA_btl_tcp_if_include", "lo"},
                   {"TMPDIR", std::getenv("TEST_TMPDIR") ? std::getenv("TEST_TMPDIR") : "/tmp"}};
    absl::StatusOr<testutil::SlurmRun> run = testutil::RunInSlurmCluster(options);
    EXPECT_TRUE(run.ok()) << run.status();
    if (!run.ok()) return testutil::SlurmRun{};
    EXPECT_TRUE(run->cluster_started) << run->Describe();
    EXPECT_THAT(run->leftovers_inside, IsEmpty()) << run->Describe();
    EXPECT_THAT(run->leftovers_outside, IsEmpty()) << run->Describe();
    EXPECT_THAT(MarkedProcesses(marker), IsEmpty());
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
    EXPECT_EQ(Lines(run.run.stdout_text).size(), static_cast<size_t>(kTasks)) << run.Describe();
    for (int rank = 0; rank < kTasks; ++rank) {
      EXPECT_EQ(CountLinesStartingWith(run.run.stdout_text,
                                       absl::StrFormat("rank %d of %d: allreduce=%d allgather=ok",
                                                       rank, kTasks, kTasks * (kTasks + 1) / 2)),
                1)
          << "rank " << rank << "\n"
          << run.Describe();
    }
  }

  void ExpectPmi2KvsOk(const testutil::SlurmRun& run) {
    EXPECT_EQ(run.run.exit_code, 0) << run.Describe();
    EXPECT_EQ(Lines(run.run.stdout_text).size(), static_cast<size_t>(kTasks)) << run.Describe();
    for (int rank = 0; rank < kTasks; ++rank) {
      // Slurm's mapping for 4 tasks on one node.
      EXPECT_EQ(CountLinesStartingWith(run.run.stdout_text,
                                       absl::StrCat("rank ", rank, " of ", kTasks,
                                                    ": pmi2 ok mapping=(vector,(0,1,4))")),
                1)
          << "rank " << rank << "\n"
          << run.Describe();
    }
  }

  std::string bridge_;
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
  absl::StatusOr<std::string> app = testutil::Runfile("bridge/downstream/bin/pmix_ompi_app");
  return {app.ok() ? *app : "pmix_ompi_app (missing runfile)", absl::StrCat(kTasks)};
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
