// The coordination between a node's PMIx server and its bridges, without
// sockets or libpmix: NodeHost (the server's view of the job) and each
// bridge's MemberSession exchange node_protocol messages through queues,
// and an EmbeddedHost stands for the launcher's PMI server, one "PMI
// connection" per rank. A 2 nodes x 2 ranks job runs a collecting fence
// through ModexExchange, as the node's PmixServer does.
#include <deque>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "bridge/downstream/modex_codec.h"
#include "bridge/node/member_session.h"
#include "bridge/node/node_host.h"
#include "bridge/node/node_protocol.h"
#include "bridge/upstream/embedded_host.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace pmi_shim::node {
namespace {

using ::testing::ElementsAre;

session::JobInfo Job(int size) {
  session::JobInfo job;
  job.kvsname = "kvs_test";
  job.size = size;
  job.universe_size = size;
  job.process_mapping = "(vector,(0,2,2))";
  return job;
}

// One node: its NodeHost and a MemberSession per local rank, the messages
// between them queued until Pump().
class FakeNode {
 public:
  FakeNode(session::JobHost& launcher, std::vector<int> local_ranks, std::vector<int> node_of_rank)
      : host_(launcher.info(), local_ranks) {
    for (int rank : local_ranks) {
      auto bridge = std::make_unique<Bridge>();
      bridge->rank = rank;
      Bridge* raw = bridge.get();
      MemberSession::Events events;
      events.welcome = [raw](absl::StatusOr<std::vector<std::string>> env) {
        raw->welcomed = env.ok();
      };
      events.bye = [raw] { raw->bye = true; };
      bridge->session = std::make_unique<MemberSession>(
          launcher, rank, node_of_rank,
          [this, rank](const Message& message) { to_server_.emplace_back(rank, message); },
          std::move(events));
      bridge->link.to_bridge = [this, rank](const Message& message) {
        to_bridges_.emplace_back(rank, message);
      };
      bridges_[rank] = std::move(bridge);
    }
  }

  // Every bridge says hello; the server attaches it (as NodeServer does).
  void JoinAll() {
    for (auto& [rank, bridge] : bridges_) {
      bridge->session->Join();
      host_.Attach(rank, &bridge->link);
    }
  }

  // Delivers queued messages both ways until none is left.
  void Pump() {
    while (!to_server_.empty() || !to_bridges_.empty()) {
      while (!to_server_.empty()) {
        auto [rank, message] = std::move(to_server_.front());
        to_server_.pop_front();
        server_saw_.push_back(message.verb);
        if (message.verb == "reply") {
          absl::StatusOr<Reply> reply = DecodeReply(message);
          ASSERT_TRUE(reply.ok()) << reply.status();
          ASSERT_TRUE(host_.OnReply(rank, *reply).ok());
        } else if (message.verb == "hello") {
          hellos_.push_back(*DecodeHello(message));
        }
      }
      while (!to_bridges_.empty()) {
        auto [rank, message] = std::move(to_bridges_.front());
        to_bridges_.pop_front();
        auto it = bridges_.find(rank);
        if (it == bridges_.end()) continue;  // its bridge is gone
        ASSERT_TRUE(it->second->session->OnMessage(message).ok()) << message.verb;
      }
    }
  }

  // The bridge of `rank` vanishes (its connection closed).
  void Drop(int rank) {
    host_.Detach(rank);
    bridges_.erase(rank);
  }

  NodeHost& host() { return host_; }
  MemberSession& session(int rank) { return *bridges_.at(rank)->session; }
  const std::vector<Hello>& hellos() const { return hellos_; }
  const std::vector<std::string>& server_saw() const { return server_saw_; }

 private:
  struct Link : MemberLink {
    void Send(const Message& message) override { to_bridge(message); }
    std::function<void(const Message&)> to_bridge;
  };
  struct Bridge {
    int rank = 0;
    Link link;
    std::unique_ptr<MemberSession> session;
    bool welcomed = false;
    bool bye = false;
  };

  NodeHost host_;
  std::map<int, std::unique_ptr<Bridge>> bridges_;
  std::deque<std::pair<int, Message>> to_server_;
  std::deque<std::pair<int, Message>> to_bridges_;
  std::vector<Hello> hellos_;
  std::vector<std::string> server_saw_;
};

class NodeCoordinationTest : public ::testing::Test {
 protected:
  NodeCoordinationTest()
      : launcher_(Job(4), {[this](int rank, int code, const std::string& message) {
                             aborts_.push_back(absl::StrCat(rank, ":", code, ":", message));
                           },
                           [this](int rank, const std::string& reason) {
                             lost_.push_back(absl::StrCat(rank, ":", reason));
                           }}),
        node_a_(launcher_, {0, 1}, {0, 0, 1, 1}),
        node_b_(launcher_, {2, 3}, {0, 0, 1, 1}) {}

  void PumpAll() {
    for (int i = 0; i < 10; ++i) {
      node_a_.Pump();
      node_b_.Pump();
    }
  }

  upstream::EmbeddedHost launcher_;
  std::vector<std::string> aborts_;
  std::vector<std::string> lost_;
  FakeNode node_a_;
  FakeNode node_b_;
};

TEST_F(NodeCoordinationTest, HelloCarriesTheRankAndTheLaunchersLayout) {
  node_a_.JoinAll();
  node_a_.Pump();
  ASSERT_EQ(node_a_.hellos().size(), 2u);
  EXPECT_EQ(node_a_.hellos()[0].rank, 0);
  EXPECT_EQ(node_a_.hellos()[1].rank, 1);
  EXPECT_EQ(node_a_.hellos()[1].job.kvsname, "kvs_test");
  EXPECT_THAT(node_a_.hellos()[1].node_of_rank, ElementsAre(0, 0, 1, 1));
}

// The node's work once per node: one blob put, one get per other node;
// every rank enters the host barrier through its own bridge.
TEST_F(NodeCoordinationTest, CollectingFenceRunsOncePerNodeThroughTheBridges) {
  node_a_.JoinAll();
  node_b_.JoinAll();
  downstream::ModexExchange::Options a_options;
  a_options.size = 4;
  a_options.local_ranks = {0, 1};
  a_options.node_of_rank = {0, 0, 1, 1};
  downstream::ModexExchange::Options b_options = a_options;
  b_options.local_ranks = {2, 3};
  downstream::ModexExchange exchange_a(node_a_.host(), a_options);
  downstream::ModexExchange exchange_b(node_b_.host(), b_options);
  std::optional<absl::StatusOr<std::string>> result_a, result_b;
  exchange_a.Fence({true, "blob-of-node-a", {}},
                   [&](absl::StatusOr<std::string> r) { result_a = std::move(r); });
  PumpAll();
  EXPECT_FALSE(result_a.has_value()) << "node a finished its fence before node b entered";
  EXPECT_EQ(launcher_.ranks_in_barrier(), 2);
  exchange_b.Fence({true, "blob-of-node-b", {}},
                   [&](absl::StatusOr<std::string> r) { result_b = std::move(r); });
  PumpAll();
  ASSERT_TRUE(result_a.has_value() && result_b.has_value());
  ASSERT_TRUE(result_a->ok()) << result_a->status();
  ASSERT_TRUE(result_b->ok()) << result_b->status();
  EXPECT_EQ(**result_a, "blob-of-node-ablob-of-node-b");
  EXPECT_EQ(**result_b, "blob-of-node-bblob-of-node-a");
  EXPECT_EQ(launcher_.barrier_epoch(), 1);
  for (FakeNode* node : {&node_a_, &node_b_}) {
    EXPECT_EQ(node->host().stats().barriers, 2);
    EXPECT_EQ(node->host().stats().puts, 1);  // the node's blob
    EXPECT_EQ(node->host().stats().gets, 1);  // the other node's blob
  }
}

TEST_F(NodeCoordinationTest, ClientNewsReachesTheLauncherThroughItsRanksBridge) {
  node_a_.JoinAll();
  ASSERT_TRUE(node_a_.host().ClaimRank(1).ok());
  EXPECT_FALSE(node_a_.host().ClaimRank(1).ok()) << "a client connects once";
  EXPECT_FALSE(node_a_.host().ClaimRank(2).ok()) << "rank 2 is not on this node";
  node_a_.host().Finalized(0);
  node_a_.host().Abort(1, 7, "probe abort");
  node_a_.Pump();
  EXPECT_FALSE(node_a_.session(0).client_spoke());
  EXPECT_TRUE(node_a_.session(1).client_spoke());
  EXPECT_TRUE(launcher_.IsFinalized(0));
  EXPECT_THAT(aborts_, ElementsAre("1:7:probe abort"));
  node_a_.host().Lost(1, "rank 1: was killed by signal 9");
  node_a_.Pump();
  EXPECT_THAT(lost_, ElementsAre("1:rank 1: was killed by signal 9"));
}

// A bridge that left: its barrier cannot be entered by another rank's
// connection, its calls in flight fail, while job-wide KVS work moves to a
// bridge still there.
TEST_F(NodeCoordinationTest, ALeftBridgesWorkFailsOrMovesToAnother) {
  node_a_.JoinAll();
  std::optional<absl::Status> barrier;
  node_a_.host().Barrier(0, [&](absl::Status status) { barrier = status; });
  node_a_.Drop(0);  // before rank 0's bridge answered
  ASSERT_TRUE(barrier.has_value());
  EXPECT_EQ(barrier->code(), absl::StatusCode::kUnavailable);
  std::optional<absl::Status> again;
  node_a_.host().Barrier(0, [&](absl::Status status) { again = status; });
  ASSERT_TRUE(again.has_value());
  EXPECT_EQ(again->code(), absl::StatusCode::kUnavailable);

  std::optional<absl::Status> put;
  node_a_.host().Put(0, "k", "v", [&](absl::Status status) { put = status; });
  std::optional<absl::StatusOr<std::string>> got;
  node_a_.host().Get(0, "k", [&](absl::StatusOr<std::string> value) { got = std::move(value); });
  node_a_.Pump();
  ASSERT_TRUE(put.has_value() && got.has_value());
  EXPECT_TRUE(put->ok()) << *put;
  ASSERT_TRUE(got->ok()) << got->status();
  EXPECT_EQ(**got, "v");
  std::optional<absl::StatusOr<std::string>> missing;
  node_a_.host().Get(0, "nope", [&](absl::StatusOr<std::string> v) { missing = std::move(v); });
  node_a_.Pump();
  ASSERT_TRUE(missing.has_value());
  EXPECT_EQ(missing->status().code(), absl::StatusCode::kNotFound);
}

// libpmix may complete a local fence without a client that died; the dead
// rank's bridge must not then enter the host barrier on its behalf, or the
// other nodes would go on as if it had fenced.
TEST_F(NodeCoordinationTest, ARankWhoseCommandEndedEntersNoBarrier) {
  node_a_.JoinAll();
  node_a_.session(1).Exited("was killed by signal 9");
  std::optional<absl::Status> barrier;
  node_a_.host().Barrier(1, [&](absl::Status status) { barrier = status; });
  node_a_.Pump();
  ASSERT_TRUE(barrier.has_value());
  EXPECT_EQ(barrier->code(), absl::StatusCode::kUnavailable) << *barrier;
  EXPECT_FALSE(launcher_.InBarrier(1));
  // A live rank still does.
  std::optional<absl::Status> live;
  node_a_.host().Barrier(0, [&](absl::Status status) { live = status; });
  node_a_.Pump();
  EXPECT_FALSE(live.has_value()) << "the barrier completed without the other ranks";
  EXPECT_TRUE(launcher_.InBarrier(0));
  node_a_.Drop(0);  // fails the call while `live` still exists
  ASSERT_TRUE(live.has_value());
  EXPECT_EQ(live->code(), absl::StatusCode::kUnavailable);
}

TEST_F(NodeCoordinationTest, AReplyToACallNeverMadeIsRefused) {
  node_a_.JoinAll();
  EXPECT_EQ(node_a_.host().OnReply(0, Reply{42, absl::OkStatus(), ""}).code(),
            absl::StatusCode::kDataLoss);
}

TEST_F(NodeCoordinationTest, ExitedAndLeaveGoToTheServerAndByeEndsTheSession) {
  node_a_.JoinAll();
  node_a_.session(0).Exited("exited with code 0");
  node_a_.session(0).Leave();
  node_a_.Pump();
  EXPECT_THAT(node_a_.server_saw(), ElementsAre("hello", "hello", "exited", "leave"));
  EXPECT_FALSE(node_a_.session(0).OnMessage(Message{"reboot", {}}).ok());
}

}  // namespace
}  // namespace pmi_shim::node
