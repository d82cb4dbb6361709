// The start-up exchange over an embedded launcher: nothing on one node,
// one name per node and one barrier across nodes, every rank's name when
// the host has no mapping.
#include "bridge/node/startup_exchange.h"

#include <optional>
#include <string>
#include <vector>

#include "bridge/upstream/embedded_host.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace pmi_shim::node {
namespace {

using ::testing::ElementsAre;

session::JobInfo Job(std::optional<std::string> mapping) {
  session::JobInfo job;
  job.kvsname = "kvs_startup";
  job.size = 4;
  job.universe_size = 4;
  job.process_mapping = std::move(mapping);
  return job;
}

struct Outcome {
  std::vector<std::optional<absl::StatusOr<NodePlan>>> plans;
};

Outcome RunAll(upstream::EmbeddedHost& host, const std::vector<std::string>& hostnames) {
  Outcome out;
  out.plans.resize(hostnames.size());
  for (int rank = 0; rank < static_cast<int>(hostnames.size()); ++rank) {
    RunStartupExchange(host, rank, hostnames[rank],
                       [&out, rank](absl::StatusOr<NodePlan> plan) { out.plans[rank] = plan; });
  }
  return out;
}

bool Published(upstream::EmbeddedHost& host, int rank) {
  bool found = false;
  host.Get(0, HostnameKey(rank), [&found](absl::StatusOr<std::string> v) { found = v.ok(); });
  return found;
}

TEST(StartupExchangeTest, OneNodeNeedsNothingFromTheHost) {
  upstream::EmbeddedHost host(Job("(vector,(0,1,4))"), {});
  Outcome out = RunAll(host, {"a", "a", "a", "a"});
  for (const auto& plan : out.plans) {
    ASSERT_TRUE(plan.has_value() && plan->ok());
    EXPECT_THAT((*plan)->local_ranks, ElementsAre(0, 1, 2, 3));
  }
  EXPECT_EQ(host.barrier_epoch(), 0);
  EXPECT_FALSE(Published(host, 0));
}

TEST(StartupExchangeTest, AcrossNodesEachLeaderPublishesItsNameBeforeOneBarrier) {
  upstream::EmbeddedHost host(Job("(vector,(0,2,2))"), {});
  Outcome out = RunAll(host, {"node1", "node1", "node2", "node2"});
  for (int rank = 0; rank < 4; ++rank) {
    ASSERT_TRUE(out.plans[rank].has_value()) << "rank " << rank << " still waits";
    ASSERT_TRUE(out.plans[rank]->ok()) << out.plans[rank]->status();
    EXPECT_EQ((*out.plans[rank])->node, rank / 2);
  }
  EXPECT_EQ(host.barrier_epoch(), 1);
  EXPECT_TRUE(Published(host, 0));
  EXPECT_FALSE(Published(host, 1));
  EXPECT_TRUE(Published(host, 2));
  EXPECT_FALSE(Published(host, 3));
}

TEST(StartupExchangeTest, WithoutAMappingTheHostnamesMakeTheLayout) {
  upstream::EmbeddedHost host(Job(std::nullopt), {});
  Outcome out = RunAll(host, {"x", "y", "x", "y"});
  for (int rank = 0; rank < 4; ++rank) {
    ASSERT_TRUE(out.plans[rank].has_value() && out.plans[rank]->ok());
  }
  EXPECT_THAT((*out.plans[0])->local_ranks, ElementsAre(0, 2));
  EXPECT_THAT((*out.plans[3])->local_ranks, ElementsAre(1, 3));
  EXPECT_EQ((*out.plans[3])->node_count, 2);
  EXPECT_EQ(host.barrier_epoch(), 1);
}

TEST(StartupExchangeTest, AnUnreadableMappingFailsBeforeTheBarrier) {
  upstream::EmbeddedHost host(Job("(vector,(0,2"), {});
  Outcome out = RunAll(host, {"a", "a", "b", "b"});
  ASSERT_TRUE(out.plans[0].has_value());
  EXPECT_EQ(out.plans[0]->status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(host.ranks_in_barrier(), 0);
}

}  // namespace
}  // namespace pmi_shim::node
