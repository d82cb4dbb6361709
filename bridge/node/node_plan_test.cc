// NodePlan: node membership from the launcher's mapping (every form Hydra
// writes) or from hostnames, and the node directory's name.
#include "bridge/node/node_plan.h"

#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace pmi_shim::node {
namespace {

using ::testing::ElementsAre;

TEST(NodePlanTest, OneNodeHoldsTheWholeJob) {
  absl::StatusOr<NodePlan> plan = PlanFromMapping("(vector,(0,1,4))", 4, 2);
  ASSERT_TRUE(plan.ok()) << plan.status();
  EXPECT_EQ(plan->node_count, 1);
  EXPECT_EQ(plan->node, 0);
  EXPECT_THAT(plan->local_ranks, ElementsAre(0, 1, 2, 3));
  EXPECT_FALSE(plan->LeadsNode());
}

TEST(NodePlanTest, BlockMappingOnTwoNodes) {
  absl::StatusOr<NodePlan> plan = PlanFromMapping("(vector,(0,2,2))", 4, 3);
  ASSERT_TRUE(plan.ok()) << plan.status();
  EXPECT_EQ(plan->node_count, 2);
  EXPECT_EQ(plan->node, 1);
  EXPECT_THAT(plan->local_ranks, ElementsAre(2, 3));
  EXPECT_THAT(plan->node_of_rank, ElementsAre(0, 0, 1, 1));
  EXPECT_EQ(plan->LeaderOf(0), 0);
  EXPECT_EQ(plan->LeaderOf(1), 2);
  EXPECT_FALSE(plan->LeadsNode());
  EXPECT_TRUE(PlanFromMapping("(vector,(0,2,2))", 4, 2)->LeadsNode());
}

// Hydra 4.1 writes round-robin placement as a repeat group.
TEST(NodePlanTest, RepeatingBlockFormPlacesRanksCyclically) {
  absl::StatusOr<NodePlan> plan = PlanFromMapping("(vector,[(0,2,1)]x3)", 6, 1);
  ASSERT_TRUE(plan.ok()) << plan.status();
  EXPECT_EQ(plan->node_count, 2);
  EXPECT_THAT(plan->local_ranks, ElementsAre(1, 3, 5));
  EXPECT_EQ(plan->LeaderOf(plan->node), 1);
  EXPECT_TRUE(plan->LeadsNode());
}

// Node ids are the launcher's; the plan numbers nodes by their lowest rank,
// as the PMIx server's layout does.
TEST(NodePlanTest, NodesAreRenumberedInOrderOfTheirLowestRank) {
  absl::StatusOr<NodePlan> plan = PlanFromMapping("(vector,(3,1,2),(1,1,2))", 4, 3);
  ASSERT_TRUE(plan.ok()) << plan.status();
  EXPECT_THAT(plan->node_of_rank, ElementsAre(0, 0, 1, 1));
  EXPECT_EQ(plan->node, 1);
}

TEST(NodePlanTest, ShortMappingRepeatsForLargerJobs) {
  absl::StatusOr<NodePlan> plan = PlanFromMapping("(vector,(0,2,2))", 8, 4);
  ASSERT_TRUE(plan.ok()) << plan.status();
  EXPECT_THAT(plan->local_ranks, ElementsAre(0, 1, 4, 5));
}

TEST(NodePlanTest, HostnamesGroupRanksWithoutAMapping) {
  absl::StatusOr<NodePlan> plan = PlanFromHostnames({"b", "a", "b", "a", "c"}, 3);
  ASSERT_TRUE(plan.ok()) << plan.status();
  EXPECT_EQ(plan->node_count, 3);
  EXPECT_THAT(plan->local_ranks, ElementsAre(1, 3));
  EXPECT_THAT(plan->node_of_rank, ElementsAre(0, 1, 0, 1, 2));
}

TEST(NodePlanTest, RejectsBadInput) {
  EXPECT_FALSE(PlanFromMapping("(vector,(0,1", 4, 0).ok());
  EXPECT_FALSE(PlanFromMapping("(vector,(0,1,4))", 4, 4).ok());
  EXPECT_FALSE(PlanFromHostnames({"a", ""}, 0).ok());
  EXPECT_FALSE(PlanFromNodeIds({0, -1}, 0).ok());
}

TEST(NodeDirectoryNameTest, SafeShortAndDistinct) {
  const std::string hydra = NodeDirectoryName("kvs_12345_0", 1);
  EXPECT_TRUE(absl::StartsWith(hydra, "kvs_12345_0-")) << hydra;
  EXPECT_TRUE(absl::EndsWith(hydra, ".node1")) << hydra;
  EXPECT_NE(NodeDirectoryName("kvs_12345_0", 0), hydra);
  // Flux's jobid starts with U+0192 (two bytes): replaced, yet distinct from
  // an id that differs only there.
  const std::string flux = NodeDirectoryName(
      "\xc6\x92"
      "ABC",
      0);
  const std::string other = NodeDirectoryName("__ABC", 0);
  EXPECT_NE(flux, other);
  for (char c : flux) {
    EXPECT_TRUE((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                c == '_' || c == '-' || c == '.')
        << flux;
  }
  // Long ids are cut; the hash still tells them apart.
  const std::string a = NodeDirectoryName(std::string(100, 'x') + "1", 0);
  const std::string b = NodeDirectoryName(std::string(100, 'x') + "2", 0);
  EXPECT_NE(a, b);
  EXPECT_LE(a.size(), 32u + 1 + 8 + 10);
  // Slurm's job.step: the dot must not end up as the name's last one.
  EXPECT_TRUE(absl::EndsWith(NodeDirectoryName("42.0", 3), ".node3"));
}

TEST(HostnameKeyTest, NeitherPmixNorHydraKeys) { EXPECT_EQ(HostnameKey(7), "shim-host-7"); }

}  // namespace
}  // namespace pmi_shim::node
