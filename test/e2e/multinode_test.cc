// End-to-end across nodes: real launchers (hydra's ssh launcher, Open MPI's
// rsh agent) start 2 ranks on each of 2 simulated nodes, directly and
// through `pmi-bridge exec`. Every rank must see the whole job (size 4), the
// node the launcher put it on, and exactly its node's ranks as shared-memory
// peers (MPI_COMM_TYPE_SHARED size 2): locality comes from the launcher,
// never from the bridge.
#include <unistd.h>

#include <iostream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "test/testing/files.h"
#include "test/testing/launcher.h"
#include "test/testing/rank_lines.h"
#include "test/testing/runfiles.h"
#include "test/testing/simulated_cluster.h"
#include "test/testing/status_matchers.h"

namespace pmi_shim::e2e {
namespace {

using ::testing::IsEmpty;
using ::testing::SizeIs;
using testutil::Launcher;
using testutil::ProgramPath;

constexpr int kNodes = 2;
constexpr int kRanksPerNode = 2;
constexpr int kRanks = kNodes * kRanksPerNode;

class MultiNodeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::Status why = testutil::SimulatedClusterAvailability();
    if (!why.ok()) GTEST_SKIP() << "no simulated cluster here: " << why;
  }

  testutil::ClusterRun Run(Launcher launcher, std::vector<std::string> program) {
    testutil::ClusterOptions options;
    options.nodes = kNodes;
    options.command = testutil::ClusterLaunch(launcher, kNodes, kRanksPerNode, program);
    // A job still running after this is stalled: its stacks are taken so a
    // known peer bug can be told from a pmi-shim failure (ExpectNodeTrueJob).
    options.stall_after = absl::Seconds(30);
    options.stacks_of = "bin/mpi_locality";
    absl::StatusOr<testutil::ClusterRun> run = testutil::RunOnSimulatedCluster(options);
    EXPECT_OK(run);
    return run.ok() ? *std::move(run) : testutil::ClusterRun{};
  }

  static std::vector<std::string> Bridged(const std::vector<std::string>& program) {
    return testutil::BridgeExec({}, program);
  }
};

// Block mapping: ranks 0..K-1 on node1, the next K on node2, and so on.
// A stall is excused only when it is MPICH 4.0.2's UCX finalize deadlock
// (see StallKind) after every rank printed its correct line: everything the
// PMI server is responsible for had then worked, including the barrier that
// the waiting ranks entered. Any other stall fails.
void ExpectNodeTrueJob(const testutil::ClusterRun& run) {
  if (run.stalled && testutil::ClassifyStall(run.stacks, kRanks) ==
                         testutil::StallKind::kMpichUcxFinalizeDeadlock) {
    std::cerr << "known peer bug: MPICH 4.0.2 UCX finalize deadlock (pmodels/mpich PR 6596); "
                 "the ranks' results are still checked\n";
    ::testing::Test::RecordProperty("known_peer_bug", "mpich_ucx_finalize_deadlock");
  } else {
    EXPECT_EQ(run.run.exit_code, 0) << run.Describe();
  }
  const std::vector<std::string> lines = testutil::Lines(run.run.stdout_text);
  EXPECT_THAT(lines, SizeIs(kRanks)) << run.Describe();
  for (int rank = 0; rank < kRanks; ++rank) {
    const std::string want =
        absl::StrCat("rank ", rank, " of ", kRanks, " on node", rank / kRanksPerNode + 1,
                     ": node_size=", kRanksPerNode, " sum=", kRanks * (kRanks - 1) / 2);
    EXPECT_THAT(lines, ::testing::Contains(want)) << run.Describe();
  }
  EXPECT_THAT(run.leftovers, IsEmpty());
}

TEST_F(MultiNodeTest, HydraMpichDirect) {
  ExpectNodeTrueJob(Run(Launcher::kHydra, {ProgramPath("mpi_locality")}));
}

TEST_F(MultiNodeTest, HydraMpichThroughBridges) {
  ExpectNodeTrueJob(Run(Launcher::kHydra, Bridged({ProgramPath("mpi_locality")})));
}

TEST_F(MultiNodeTest, OpenMpiDirect) {
  ExpectNodeTrueJob(Run(Launcher::kOpenMpi, {ProgramPath("mpi_locality_ompi")}));
}

// PMIx host, PMIx program: the bridge relays each rank's PMIx connection.
TEST_F(MultiNodeTest, OpenMpiThroughBridges) {
  ExpectNodeTrueJob(Run(Launcher::kOpenMpi, Bridged({ProgramPath("mpi_locality_ompi")})));
}

// Flow 4 across nodes: PMI-1 host (hydra's proxies over ssh), Open MPI
// program. Each node's bridges share one PMIx server (the first starts it),
// registered with hydra's mapping and the node names the node leaders
// published through hydra's KVS: node1's ranks are each other's local peers,
// node2's too, and nothing crosses between them but through the launcher.
TEST_F(MultiNodeTest, HydraOpenMpiProgramThroughBridges) {
  ExpectNodeTrueJob(Run(Launcher::kHydra, Bridged({ProgramPath("mpi_locality_ompi")})));
}

// Flow 4 with hydra's round-robin placement (one slot per host, 6 ranks):
// the mapping repeats a block, rank r lands on node (r mod 2) + 1, and each
// node's server serves its 3 ranks, not consecutive ones.
TEST_F(MultiNodeTest, HydraOpenMpiRoundRobinPlacementThroughBridges) {
  testutil::ClusterOptions options;
  options.nodes = kNodes;
  options.stall_after = absl::Seconds(30);
  options.command = {
      "bash", "-c",
      absl::StrCat("exec mpiexec.hydra -launcher ssh -launcher-exec \"$", testutil::kClusterRshVar,
                   "\" -hosts node1:1,node2:1 -n 6 ", testutil::BridgePath(), " exec -- ",
                   ProgramPath("mpi_locality_ompi"))};
  absl::StatusOr<testutil::ClusterRun> run = testutil::RunOnSimulatedCluster(options);
  ASSERT_OK(run);
  EXPECT_EQ(run->run.exit_code, 0) << run->Describe();
  const std::vector<std::string> lines = testutil::Lines(run->run.stdout_text);
  EXPECT_EQ(lines.size(), 6u) << run->Describe();
  for (int rank = 0; rank < 6; ++rank) {
    EXPECT_THAT(lines, ::testing::Contains(absl::StrCat("rank ", rank, " of 6 on node",
                                                        rank % 2 + 1, ": node_size=3 sum=15")))
        << run->Describe();
  }
  EXPECT_THAT(run->leftovers, IsEmpty());
}

// Flow 4 across nodes, failing: rank 3 (node2) is SIGKILLed a second after
// PMIx_Init while the others wait in the job's fence (node1's server in
// hydra's barrier through its bridges, rank 2 in node2's libpmix). Its
// bridge has the node's server report it lost and aborts the job upstream:
// the job ends by itself, quickly, non-zero, and no node server or rank is
// left on either node.
TEST_F(MultiNodeTest, HydraPmixRankKilledMidFenceEndsTheJobOnEveryNode) {
  // hydra may end the job before it forwards the bridges' last stderr lines,
  // so the reason is read from their JSON log (the nodes share this path).
  const std::string log = absl::StrCat(::testing::TempDir(), "/kill-mid-fence.log");
  std::remove(log.c_str());
  testutil::ClusterOptions options;
  options.nodes = kNodes;
  options.timeout = absl::Seconds(60);
  options.command = testutil::ClusterLaunch(
      Launcher::kHydra, kNodes, kRanksPerNode,
      testutil::BridgeExec({"--downstream", "pmix", "--log-file", log},
                           {"sh", "-c",
                            "[ \"$PMIX_RANK\" = 3 ] && { sleep 1; kill -9 $$; } & exec \"$0\" "
                            "--hang-rank 3",
                            ProgramPath("pmix_probe")}));
  absl::StatusOr<testutil::ClusterRun> run = testutil::RunOnSimulatedCluster(options);
  ASSERT_OK(run);
  EXPECT_FALSE(run->run.timed_out) << run->Describe();
  EXPECT_NE(run->run.exit_code, 0) << run->Describe();
  EXPECT_LT(run->run.wall, absl::Seconds(15)) << run->Describe();
  EXPECT_THAT(run->run.stdout_text, ::testing::Not(::testing::HasSubstr("pmix ok")));
  // The kill, not a failure to start, ended it: one line names the rank.
  EXPECT_THAT(run->run.stderr_text + testutil::ReadFile(log),
              ::testing::HasSubstr("rank 3: was killed by signal 9"))
      << run->Describe();
  EXPECT_THAT(run->leftovers, IsEmpty()) << run->Describe();
}

// Flow 3 across nodes: PMIx host, MPICH program; the bridge is a PMIx client
// upstream and serves PMI-1 to the program, with the host's node map.
TEST_F(MultiNodeTest, OpenMpiHostMpichProgramThroughBridges) {
  ExpectNodeTrueJob(Run(Launcher::kOpenMpi, Bridged({ProgramPath("mpi_locality")})));
}

// PMIx v1.2 clients (the lab's OpenPMIx 1.2.5) behind the bridges' native
// endpoints: the bridges exchange their nodes' names through the host, so
// each rank sees its own node's name and exactly its node's ranks as local
// peers; every rank gets every other rank's keys (hydra and mpirun hosts).
void ExpectNodeTrueV1Job(const testutil::ClusterRun& run) {
  EXPECT_EQ(run.run.exit_code, 0) << run.Describe();
  for (int rank = 0; rank < kRanks; ++rank) {
    const int node = rank / kRanksPerNode;
    const std::string want =
        absl::StrCat("OK rank ", rank, " size ", kRanks, " peers ", node * kRanksPerNode, ",",
                     node * kRanksPerNode + 1, " host node", node + 1, " keys ", kRanks * 4);
    EXPECT_THAT(run.run.stdout_text, ::testing::HasSubstr(want)) << run.Describe();
  }
  EXPECT_THAT(run.leftovers, IsEmpty());
}

TEST_F(MultiNodeTest, HydraPmixV1ClientsThroughBridges) {
  if (::access("/opt/pmi-shim-peers/openpmix-1.2.5/lib/libpmix.so.2", R_OK) != 0) {
    GTEST_SKIP() << "the peers lab's OpenPMIx 1.2.5 is not installed";
  }
  ExpectNodeTrueV1Job(
      Run(Launcher::kHydra, Bridged({ProgramPath("pmix_v1_client"), "--keys", "4"})));
}

TEST_F(MultiNodeTest, OpenMpiHostPmixV1ClientsThroughBridges) {
  if (::access("/opt/pmi-shim-peers/openpmix-1.2.5/lib/libpmix.so.2", R_OK) != 0) {
    GTEST_SKIP() << "the peers lab's OpenPMIx 1.2.5 is not installed";
  }
  ExpectNodeTrueV1Job(
      Run(Launcher::kOpenMpi, Bridged({ProgramPath("pmix_v1_client"), "--keys", "4"})));
}

}  // namespace
}  // namespace pmi_shim::e2e
