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
#include "absl/strings/str_split.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "test/e2e/launch_util.h"
#include "test/testing/simulated_cluster.h"

namespace pmi_shim::e2e {
namespace {

using ::testing::IsEmpty;
using testutil::ClusterLauncher;

constexpr int kNodes = 2;
constexpr int kRanksPerNode = 2;
constexpr int kRanks = kNodes * kRanksPerNode;

class MultiNodeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::Status why = testutil::SimulatedClusterAvailability();
    if (!why.ok()) GTEST_SKIP() << "no simulated cluster here: " << why;
    absl::StatusOr<std::string> bridge = BridgePath();
    ASSERT_TRUE(bridge.ok()) << bridge.status();
    bridge_ = *bridge;
  }

  testutil::ClusterRun Run(ClusterLauncher launcher, std::vector<std::string> program) {
    testutil::ClusterOptions options;
    options.nodes = kNodes;
    options.command = testutil::ClusterLaunch(launcher, kNodes, kRanksPerNode, program);
    // A job still running after this is stalled: its stacks are taken so a
    // known peer bug can be told from a pmi-shim failure (ExpectNodeTrueJob).
    options.stall_after = absl::Seconds(30);
    options.stacks_of = "bin/mpi_locality";
    absl::StatusOr<testutil::ClusterRun> run = testutil::RunOnSimulatedCluster(options);
    EXPECT_TRUE(run.ok()) << run.status();
    return run.ok() ? *std::move(run) : testutil::ClusterRun{};
  }

  std::vector<std::string> Bridged(std::vector<std::string> program) {
    std::vector<std::string> argv = {bridge_, "exec", "--"};
    argv.insert(argv.end(), program.begin(), program.end());
    return argv;
  }

  std::string bridge_;
};

// Block mapping: ranks 0..K-1 on node1, the next K on node2, and so on.
// A stall is excused only when it is MPICH 4.0.2's UCX finalize deadlock
// (see StallKind) after every rank printed its correct line: everything the
// PMI server is responsible for had then worked, including the barrier that
// the waiting ranks entered. Any other stall fails.
void ExpectNodeTrueJob(const testutil::ClusterRun& run) {
  if (run.stalled &&
      testutil::ClassifyStall(run.stacks, kRanks) ==
          testutil::StallKind::kMpichUcxFinalizeDeadlock) {
    std::cerr << "known peer bug: MPICH 4.0.2 UCX finalize deadlock (pmodels/mpich PR 6596); "
                 "the ranks' results are still checked\n";
    ::testing::Test::RecordProperty("known_peer_bug", "mpich_ucx_finalize_deadlock");
  } else {
    EXPECT_EQ(run.run.exit_code, 0) << run.Describe();
  }
  std::vector<std::string> lines =
      absl::StrSplit(run.run.stdout_text, '\n', absl::SkipEmpty());
  EXPECT_EQ(lines.size(), static_cast<size_t>(kRanks)) << run.Describe();
  for (int rank = 0; rank < kRanks; ++rank) {
    const std::string want =
        absl::StrCat("rank ", rank, " of ", kRanks, " on node", rank / kRanksPerNode + 1,
                     ": node_size=", kRanksPerNode, " sum=", kRanks * (kRanks - 1) / 2);
    EXPECT_THAT(lines, ::testing::Contains(want)) << run.Describe();
  }
  EXPECT_THAT(run.leftovers, IsEmpty());
}

TEST_F(MultiNodeTest, HydraMpichDirect) {
  ExpectNodeTrueJob(Run(ClusterLauncher::kHydra, {ProgramPath("mpi_locality")}));
}

TEST_F(MultiNodeTest, HydraMpichThroughBridges) {
  ExpectNodeTrueJob(Run(ClusterLauncher::kHydra, Bridged({ProgramPath("mpi_locality")})));
}

TEST_F(MultiNodeTest, OpenMpiDirect) {
  ExpectNodeTrueJob(Run(ClusterLauncher::kOpenMpi, {ProgramPath("mpi_locality_ompi")}));
}

// PMIx host, PMIx program: the bridge relays each rank's PMIx connection.
TEST_F(MultiNodeTest, OpenMpiThroughBridges) {
  ExpectNodeTrueJob(Run(ClusterLauncher::kOpenMpi, Bridged({ProgramPath("mpi_locality_ompi")})));
}

// Flow 3 across nodes: PMIx host, MPICH program; the bridge is a PMIx client
// upstream and serves PMI-1 to the program, with the host's node map.
TEST_F(MultiNodeTest, OpenMpiHostMpichProgramThroughBridges) {
  ExpectNodeTrueJob(Run(ClusterLauncher::kOpenMpi, Bridged({ProgramPath("mpi_locality")})));
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
      Run(ClusterLauncher::kHydra, Bridged({ProgramPath("pmix_v1_client"), "--keys", "4"})));
}

TEST_F(MultiNodeTest, OpenMpiHostPmixV1ClientsThroughBridges) {
  if (::access("/opt/pmi-shim-peers/openpmix-1.2.5/lib/libpmix.so.2", R_OK) != 0) {
    GTEST_SKIP() << "the peers lab's OpenPMIx 1.2.5 is not installed";
  }
  ExpectNodeTrueV1Job(
      Run(ClusterLauncher::kOpenMpi, Bridged({ProgramPath("pmix_v1_client"), "--keys", "4"})));
}

}  // namespace
}  // namespace pmi_shim::e2e
