// PmiOverPmix against a fake PMIx server shared by every rank of a small
// job, all on one event loop: the key-directory barrier, gets routed to the
// rank that put the key, node attributes, and losing the server.
#include "bridge/upstream/pmi_over_pmix.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "bridge/upstream/pmix_client_port.h"
#include "bridge/upstream/pmix_value_codec.h"
#include "common/event_loop.h"
#include "test/testing/status_matchers.h"

namespace pmi_shim::upstream {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Pair;
using Scope = PmixClientPort::Scope;
using Kind = PmixClientPort::Kind;
using KeyValues = std::map<std::string, std::string>;

// What PMIx promises, and no more: job-scope data is visible to others after
// the fence that follows its commit, node-scope data to the same node's
// ranks after its commit. Answers come later, through the loop, as
// libpmix's would.
class FakePmixServer {
 public:
  FakePmixServer(EventLoop& loop, std::vector<int> node_of_rank)
      : loop_(loop),
        node_of_rank_(std::move(node_of_rank)),
        staged_(size()),
        committed_(size()),
        visible_(size()),
        node_visible_(size()) {}

  int size() const { return static_cast<int>(node_of_rank_.size()); }

  class Port : public PmixClientPort {
   public:
    Port(FakePmixServer& server, int rank) : server_(server), rank_(rank) {}
    absl::Status Put(Scope scope, const std::string& pmix_key, absl::string_view value,
                     Kind kind) override {
      if (server_.lost_) return absl::UnavailableError("fake: lost");
      if (!server_.put_error_.ok()) return server_.put_error_;
      kinds_[pmix_key] = kind;
      auto& target = scope == Scope::kJob ? server_.staged_[rank_] : node_staged_;
      target[pmix_key] = std::string(value);
      return absl::OkStatus();
    }
    absl::Status Commit() override {
      if (server_.lost_) return absl::UnavailableError("fake: lost");
      for (auto& [key, value] : node_staged_) server_.node_visible_[rank_][key] = value;
      node_staged_.clear();
      for (auto& [key, value] : server_.staged_[rank_]) server_.committed_[rank_][key] = value;
      server_.staged_[rank_].clear();
      return absl::OkStatus();
    }
    void Fence(const std::string& what, Done done) override {
      fence_names.push_back(what);
      server_.Fence(std::move(done));
    }
    void Get(int rank, const std::string& pmix_key, ValueDone done) override {
      gets.emplace_back(rank, pmix_key);
      server_.Get(rank_, rank, pmix_key, std::move(done));
    }

    std::vector<std::pair<int, std::string>> gets;
    std::vector<std::string> fence_names;
    std::map<std::string, Kind> kinds_;

   private:
    FakePmixServer& server_;
    const int rank_;
    KeyValues node_staged_;
  };

  // The server goes away: pending fences and later calls fail Unavailable.
  void Lose() {
    lost_ = true;
    for (auto& done : fenced_) {
      loop_.Post([done = std::move(done)] { done(absl::UnavailableError("fake: lost")); });
    }
    fenced_.clear();
  }
  void FailPuts(absl::Status status) { put_error_ = std::move(status); }

 private:
  void Fence(PmixClientPort::Done done) {
    if (lost_) {
      loop_.Post([done = std::move(done)] { done(absl::UnavailableError("fake: lost")); });
      return;
    }
    fenced_.push_back(std::move(done));
    if (static_cast<int>(fenced_.size()) < size()) return;
    for (int rank = 0; rank < size(); ++rank) {
      for (auto& [key, value] : committed_[rank]) visible_[rank][key] = value;
      committed_[rank].clear();
    }
    for (auto& each : fenced_) loop_.Post([each = std::move(each)] { each(absl::OkStatus()); });
    fenced_.clear();
  }

  void Get(int asker, int owner, const std::string& key, PmixClientPort::ValueDone done) {
    absl::StatusOr<std::string> answer = absl::NotFoundError(absl::StrCat("fake: no ", key));
    if (lost_) {
      answer = absl::UnavailableError("fake: lost");
    } else if (owner < 0 || owner >= size()) {
      answer = absl::InvalidArgumentError("fake: no such rank");
    } else if (auto it = visible_[owner].find(key); it != visible_[owner].end()) {
      answer = it->second;
    } else if (auto local = node_visible_[owner].find(key);
               local != node_visible_[owner].end() &&
               node_of_rank_[owner] == node_of_rank_[asker]) {
      answer = local->second;
    }
    loop_.Post([done = std::move(done), answer = std::move(answer)] { done(answer); });
  }

  EventLoop& loop_;
  std::vector<int> node_of_rank_;
  std::vector<KeyValues> staged_;     // put, not committed
  std::vector<KeyValues> committed_;  // committed, not fenced
  std::vector<KeyValues> visible_;    // fenced: visible job-wide
  std::vector<KeyValues> node_visible_;
  std::vector<PmixClientPort::Done> fenced_;
  bool lost_ = false;
  absl::Status put_error_;
};

// One bridge per rank over the fake server.
class PmiOverPmixTest : public ::testing::Test {
 protected:
  void MakeJob(std::vector<int> node_of_rank, std::vector<int> local_peers_of_node0 = {}) {
    server_ = std::make_unique<FakePmixServer>(loop_, node_of_rank);
    for (int rank = 0; rank < server_->size(); ++rank) {
      ports_.push_back(std::make_unique<FakePmixServer::Port>(*server_, rank));
      PmiOverPmix::Options options;
      options.rank = rank;
      options.size = server_->size();
      if (node_of_rank[rank] == 0) options.local_peers = local_peers_of_node0;
      options.process_mapping = "(vector,(0,1,2))";
      options.node_attr_poll = absl::Milliseconds(2);
      options.on_lost = [this, rank](const std::string& reason) {
        lost_reports_.push_back(absl::StrCat(rank, ": ", reason));
      };
      ranks_.push_back(std::make_unique<PmiOverPmix>(loop_, *ports_.back(), std::move(options)));
    }
  }

  // Runs the loop until `done()` (checked after each round) or 5 s.
  void RunUntil(const std::function<bool()>& done) {
    const absl::Time deadline = absl::Now() + absl::Seconds(5);
    std::function<void()> check = [&] {
      if (done() || absl::Now() > deadline) {
        loop_.Stop();
        return;
      }
      loop_.AddTimer(absl::Milliseconds(1), check);
    };
    loop_.Post(check);
    ASSERT_OK(loop_.Run());
    ASSERT_TRUE(done()) << "timed out";
  }

  absl::Status Put(int rank, const std::string& key, const std::string& value) {
    std::optional<absl::Status> result;
    ranks_[rank]->Put(key, value, [&](absl::Status s) { result = s; });
    EXPECT_TRUE(result.has_value()) << "puts answer at once";
    return result.value_or(absl::UnknownError("no answer"));
  }

  absl::StatusOr<std::string> Get(int rank, const std::string& key) {
    std::optional<absl::StatusOr<std::string>> result;
    ranks_[rank]->Get(key, [&](absl::StatusOr<std::string> r) { result = std::move(r); });
    RunUntil([&] { return result.has_value(); });
    return result.value_or(absl::UnknownError("no answer"));
  }

  // Every rank enters the barrier; returns each rank's result.
  std::vector<absl::Status> BarrierAll() {
    std::vector<std::optional<absl::Status>> results(ranks_.size());
    for (size_t rank = 0; rank < ranks_.size(); ++rank) {
      ranks_[rank]->Barrier([&results, rank](absl::Status s) { results[rank] = s; });
    }
    RunUntil([&] {
      for (auto& r : results) {
        if (!r.has_value()) return false;
      }
      return true;
    });
    std::vector<absl::Status> out;
    for (auto& r : results) out.push_back(r.value_or(absl::UnknownError("no answer")));
    return out;
  }

  EventLoop loop_;
  std::unique_ptr<FakePmixServer> server_;
  std::vector<std::unique_ptr<FakePmixServer::Port>> ports_;
  std::vector<std::unique_ptr<PmiOverPmix>> ranks_;
  std::vector<std::string> lost_reports_;
};

TEST_F(PmiOverPmixTest, KeysOfOtherRanksAppearAfterTheBarrierFromTheirOwner) {
  MakeJob({0, 1, 2});
  ASSERT_OK(Put(0, "bc-0", "card0"));
  ASSERT_OK(Put(2, "bc-2", "card2"));
  EXPECT_EQ(*Get(0, "bc-0"), "card0");  // own keys at once
  EXPECT_EQ(Get(1, "bc-0").status().code(), absl::StatusCode::kNotFound);
  EXPECT_TRUE(ports_[1]->gets.empty()) << "a key nobody published is not asked for";

  for (const absl::Status& s : BarrierAll()) ASSERT_OK(s);
  // Each rank read every other rank's directory of barrier 1 (epoch 0).
  EXPECT_THAT(ports_[1]->gets,
              ElementsAre(Pair(0, KeyDirectoryKey(0)), Pair(2, KeyDirectoryKey(0))));
  EXPECT_EQ(ports_[1]->kinds_[KeyDirectoryKey(0)], Kind::kBytes);
  EXPECT_THAT(ports_[1]->fence_names, ElementsAre("PMIx fence of barrier 1"));

  ports_[1]->gets.clear();
  EXPECT_EQ(*Get(1, "bc-2"), "card2");
  EXPECT_EQ(*Get(1, "bc-0"), "card0");
  EXPECT_THAT(ports_[1]->gets, ElementsAre(Pair(2, "bc-2"), Pair(0, "bc-0")));
  EXPECT_EQ(Get(1, "-NONEXIST-KEY").status().code(), absl::StatusCode::kNotFound);
}

TEST_F(PmiOverPmixTest, LowestRankOwnsAKeyPutTwiceAndLaterBarriersUseNewDirectories) {
  MakeJob({0, 1, 2});
  ASSERT_OK(Put(2, "shared", "from2"));
  ASSERT_OK(Put(1, "shared", "from1"));
  for (const absl::Status& s : BarrierAll()) ASSERT_OK(s);
  EXPECT_EQ(*Get(0, "shared"), "from1");

  ASSERT_OK(Put(2, "late", "x"));
  for (const absl::Status& s : BarrierAll()) ASSERT_OK(s);
  EXPECT_EQ(*Get(0, "late"), "x");
  EXPECT_THAT(ports_[0]->fence_names,
              ElementsAre("PMIx fence of barrier 1", "PMIx fence of barrier 2"));
}

TEST_F(PmiOverPmixTest, ReservedPmiKeysTravelUnderEscapedPmixKeys) {
  MakeJob({0, 1});
  ASSERT_OK(Put(0, "pmix.hname", "h0"));
  for (const absl::Status& s : BarrierAll()) ASSERT_OK(s);
  ports_[1]->gets.clear();
  EXPECT_EQ(*Get(1, "pmix.hname"), "h0");
  EXPECT_THAT(ports_[1]->gets, ElementsAre(Pair(0, ToPmixKey(KeyScope::kJob, "pmix.hname"))));
}

TEST_F(PmiOverPmixTest, ProcessMappingComesFromTheJobFacts) {
  MakeJob({0, 1});
  EXPECT_EQ(*Get(1, "PMI_process_mapping"), "(vector,(0,1,2))");
  EXPECT_TRUE(ports_[1]->gets.empty());
}

TEST_F(PmiOverPmixTest, SecondBarrierEntryBeforeTheFirstEndsFails) {
  MakeJob({0, 1});
  std::optional<absl::Status> first;
  ranks_[0]->Barrier([&](absl::Status s) { first = s; });
  std::optional<absl::Status> second;
  ranks_[0]->Barrier([&](absl::Status s) { second = s; });
  ASSERT_TRUE(second.has_value());
  EXPECT_EQ(second->code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(second->message(), HasSubstr("entered the barrier twice"));
  ranks_[1]->Barrier([](absl::Status) {});
  RunUntil([&] { return first.has_value(); });
  EXPECT_TRUE(first->ok()) << *first;
}

TEST_F(PmiOverPmixTest, RankOutsideTheBridgeFailsTheBarrier) {
  MakeJob({0, 1});
  // Rank 1 fences as a plain PMIx client would: no key directory.
  std::optional<absl::Status> result;
  ranks_[0]->Barrier([&](absl::Status s) { result = s; });
  ports_[1]->Fence("plain client", [](absl::Status) {});
  RunUntil([&] { return result.has_value(); });
  EXPECT_EQ(result->code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(result->message(), HasSubstr("rank 1 published no pmi-shim key list at barrier 1"));
  EXPECT_THAT(result->message(), HasSubstr("every rank of the job must run through pmi-bridge"));
}

TEST_F(PmiOverPmixTest, NodeAttributesReachTheSameNodeOnlyAndWaitingGetsPoll) {
  MakeJob({0, 0, 1}, /*local_peers_of_node0=*/{0, 1});
  std::optional<absl::StatusOr<std::string>> waited;
  ranks_[0]->GetNodeAttr("shm", /*wait=*/true, [&](absl::StatusOr<std::string> r) { waited = r; });
  RunUntil([&] { return ports_[0]->gets.size() >= 3; });  // asked rank 1 a few times
  EXPECT_FALSE(waited.has_value());
  for (const auto& [rank, key] : ports_[0]->gets) {
    EXPECT_EQ(rank, 1) << "only the local peer is asked";
    EXPECT_EQ(key, ToPmixKey(KeyScope::kNode, "shm"));
  }

  std::optional<absl::Status> put;
  ranks_[1]->PutNodeAttr("shm", "seg-1", [&](absl::Status s) { put = s; });
  ASSERT_TRUE(put.has_value() && put->ok());
  RunUntil([&] { return waited.has_value(); });
  ASSERT_TRUE(waited->ok()) << waited->status();
  EXPECT_EQ(**waited, "seg-1");

  std::optional<absl::StatusOr<std::string>> own;
  ranks_[1]->GetNodeAttr("shm", false, [&](absl::StatusOr<std::string> r) { own = r; });
  ASSERT_TRUE(own.has_value());  // from memory, at once
  EXPECT_EQ(**own, "seg-1");

  // Rank 2 does not know its peers: it asks everyone, and rank 1 is on
  // another node, so without waiting the answer is NotFound.
  std::optional<absl::StatusOr<std::string>> remote;
  ranks_[2]->GetNodeAttr("shm", false, [&](absl::StatusOr<std::string> r) { remote = r; });
  RunUntil([&] { return remote.has_value(); });
  EXPECT_EQ(remote->status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(ports_[2]->gets, ElementsAre(Pair(0, ToPmixKey(KeyScope::kNode, "shm")),
                                           Pair(1, ToPmixKey(KeyScope::kNode, "shm"))));
}

TEST_F(PmiOverPmixTest, LosingTheServerFailsEverythingPendingAndReportsOnce) {
  MakeJob({0, 0}, {0, 1});
  std::optional<absl::Status> barrier;
  ranks_[0]->Barrier([&](absl::Status s) { barrier = s; });
  std::optional<absl::StatusOr<std::string>> attr;
  ranks_[0]->GetNodeAttr("never", true, [&](absl::StatusOr<std::string> r) { attr = r; });
  server_->Lose();
  RunUntil([&] { return barrier.has_value() && attr.has_value(); });
  EXPECT_EQ(barrier->code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(attr->status().code(), absl::StatusCode::kUnavailable);
  ASSERT_EQ(lost_reports_.size(), 1u);
  EXPECT_THAT(lost_reports_[0], HasSubstr("0: lost the connection to the PMIx server (fake: lost"));
  EXPECT_TRUE(ranks_[0]->lost());

  // Later operations fail at once, without asking the port.
  EXPECT_EQ(Put(0, "k", "v").code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(Get(0, "k").status().code(), absl::StatusCode::kUnavailable);
  // The event that libpmix sends as well reports nothing new.
  ranks_[0]->ReportLost("PMIx event LOST-CONNECTION");
  RunUntil([&] { return true; });
  EXPECT_EQ(lost_reports_.size(), 1u);
}

TEST_F(PmiOverPmixTest, LossEventFailsTheWaitsOfAnIdleRank) {
  MakeJob({0, 0}, {0, 1});
  std::optional<absl::StatusOr<std::string>> attr;
  ranks_[1]->GetNodeAttr("never", true, [&](absl::StatusOr<std::string> r) { attr = r; });
  ranks_[1]->ReportLost("PMIx event LOST-CONNECTION");
  RunUntil([&] { return attr.has_value(); });
  EXPECT_EQ(attr->status().code(), absl::StatusCode::kUnavailable);
  ASSERT_EQ(lost_reports_.size(), 1u);
  EXPECT_THAT(lost_reports_[0], HasSubstr("1: lost the connection to the PMIx server (PMIx event"));
}

TEST_F(PmiOverPmixTest, FailedPutIsReportedAndAFinalizedConnectionRefusesWork) {
  MakeJob({0, 1});
  server_->FailPuts(absl::InternalError("PMIx put of k: ERROR (-1)"));
  absl::Status put = Put(0, "k", "v");
  EXPECT_EQ(put.code(), absl::StatusCode::kInternal);
  EXPECT_FALSE(ranks_[0]->lost());
  ranks_[0]->MarkFinalized();
  EXPECT_EQ(Get(0, "k").status().code(), absl::StatusCode::kFailedPrecondition);
  std::optional<absl::Status> barrier;
  ranks_[0]->Barrier([&](absl::Status s) { barrier = s; });
  ASSERT_TRUE(barrier.has_value());
  EXPECT_EQ(barrier->code(), absl::StatusCode::kFailedPrecondition);
}

}  // namespace
}  // namespace pmi_shim::upstream
