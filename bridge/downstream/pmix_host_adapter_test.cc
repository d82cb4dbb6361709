// PmixHostAdapter without libpmix: upcalls arrive as plain calls, the
// local clients' committed data comes from a fake LocalModexSource, and the
// job is an EmbeddedHost that several adapters (bridges) share.
#include "bridge/downstream/pmix_host_adapter.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "bridge/downstream/pmix_layout.h"
#include "bridge/upstream/embedded_host.h"
#include "common/event_loop.h"
#include "test/testing/status_matchers.h"

namespace pmi_shim::downstream {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using Proc = PmixHostAdapter::Proc;
using Result = absl::StatusOr<std::string>;

constexpr char kNspace[] = "kvs_adapter_test";

session::JobInfo Job(int size) {
  session::JobInfo info;
  info.kvsname = kNspace;
  info.size = size;
  info.universe_size = size;
  return info;
}

// What libpmix holds for each local client. Answers at once, later through
// the loop, or never (a client that committed nothing).
class FakeModexSource : public LocalModexSource {
 public:
  explicit FakeModexSource(EventLoop& loop) : loop_(loop) {}
  void RequestLocalModex(int rank, std::function<void(std::string)> done) override {
    requested.push_back(rank);
    auto it = data.find(rank);
    if (it == data.end()) return;  // never answers
    if (!later) {
      done(it->second);
      return;
    }
    loop_.Post([done = std::move(done), blob = it->second] { done(blob); });
  }

  std::map<int, std::string> data;
  bool later = false;
  std::vector<int> requested;

 private:
  EventLoop& loop_;
};

class PmixHostAdapterTest : public ::testing::Test {
 protected:
  explicit PmixHostAdapterTest(int size = 4)
      : host_(Job(size), {[this](int rank, int code, const std::string& message) {
                            aborts_.push_back(absl::StrCat(rank, ":", code, ":", message));
                          },
                          [this](int rank, const std::string& reason) {
                            lost_.push_back(absl::StrCat(rank, ":", reason));
                          }}) {}

  // One bridge serving `local` of the job.
  std::unique_ptr<PmixHostAdapter> Adapter(std::vector<int> local, FakeModexSource& source) {
    PmixHostAdapter::Options options;
    options.nspace = kNspace;
    absl::StatusOr<Layout> layout = MakeLayout(host_.info().size, local, {});
    EXPECT_OK(layout);
    options.layout = *layout;
    options.exchange.size = host_.info().size;
    options.exchange.local_ranks = local;
    options.direct_modex_wait = absl::Milliseconds(20);
    return std::make_unique<PmixHostAdapter>(loop_, host_, source, std::move(options));
  }

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

  static PmixHostAdapter::BlobDone Into(std::optional<Result>& slot) {
    return [&slot](Result r) { slot = std::move(r); };
  }

  EventLoop loop_;
  upstream::EmbeddedHost host_;
  std::vector<std::string> aborts_;
  std::vector<std::string> lost_;
};

TEST_F(PmixHostAdapterTest, ConnectClaimsLocalRanksOnly) {
  FakeModexSource source(loop_);
  auto adapter = Adapter({0, 1}, source);
  EXPECT_OK(adapter->ClientConnected({kNspace, 1}));
  EXPECT_TRUE(adapter->Connected(1));
  EXPECT_FALSE(adapter->Connected(0));

  absl::Status remote = adapter->ClientConnected({kNspace, 2});
  EXPECT_EQ(remote.code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(remote.message(), HasSubstr("check PMIX_NAMESPACE/PMIX_RANK"));
  EXPECT_EQ(adapter->ClientConnected({"other", 0}).code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(adapter->ClientConnected({kNspace, kPmixWildcardRank}).code(),
            absl::StatusCode::kNotFound);
  // The host refuses a rank claimed twice.
  absl::Status twice = adapter->ClientConnected({kNspace, 1});
  EXPECT_EQ(twice.code(), absl::StatusCode::kPermissionDenied);
  EXPECT_THAT(twice.message(), HasSubstr("rank 1: PMIx client refused"));
}

TEST_F(PmixHostAdapterTest, FinalizeExitAndAbortReachTheHost) {
  FakeModexSource source(loop_);
  auto adapter = Adapter({0, 1}, source);
  ASSERT_OK(adapter->ClientConnected({kNspace, 0}));
  ASSERT_OK(adapter->ClientConnected({kNspace, 1}));
  EXPECT_FALSE(adapter->Clean());

  adapter->ClientFinalized({kNspace, 0});
  EXPECT_TRUE(adapter->Finalized(0));
  EXPECT_TRUE(host_.IsFinalized(0));
  EXPECT_FALSE(adapter->RankExited(0, "exited with code 0"));  // finalized first: fine

  EXPECT_FALSE(adapter->RankExited(3, "was killed by signal 9"));  // not ours
  EXPECT_TRUE(adapter->RankExited(1, "was killed by signal 9"));
  EXPECT_FALSE(adapter->RankExited(1, "was killed by signal 9"));  // reported once
  ASSERT_EQ(lost_.size(), 1u);
  EXPECT_THAT(lost_[0], HasSubstr("1:rank 1: was killed by signal 9 after PMIx_Init without "
                                  "PMIx_Finalize"));

  adapter->ClientAborted({kNspace, 1}, 7, "bad input");
  adapter->ClientAborted({"stranger", 5}, 3, "");
  EXPECT_THAT(aborts_, ElementsAre("1:7:bad input", "0:3:"));
}

TEST_F(PmixHostAdapterTest, CleanMeansEveryConnectedClientFinalized) {
  FakeModexSource source(loop_);
  auto adapter = Adapter({0, 1}, source);
  EXPECT_TRUE(adapter->Clean());  // nobody connected
  ASSERT_OK(adapter->ClientConnected({kNspace, 0}));
  adapter->ClientFinalized({kNspace, 0});
  EXPECT_TRUE(adapter->Clean());
}

TEST_F(PmixHostAdapterTest, FencesOverPartOfTheJobAreRefused) {
  FakeModexSource source(loop_);
  auto adapter = Adapter({0, 1}, source);
  for (const std::vector<Proc>& participants : std::vector<std::vector<Proc>>{
           {}, {{kNspace, 0}, {kNspace, 1}}, {{"other", kPmixWildcardRank}}}) {
    std::optional<Result> reply;
    adapter->Fence(participants, true, "blob", Into(reply));
    ASSERT_TRUE(reply.has_value());
    EXPECT_EQ(reply->status().code(), absl::StatusCode::kUnimplemented);
  }
  EXPECT_EQ(adapter->stats().fence_upcalls, 3);
  EXPECT_EQ(host_.ranks_in_barrier(), 0) << "a refused fence never reaches the host";
}

TEST_F(PmixHostAdapterTest, CollectingFenceReturnsEveryServersBlob) {
  FakeModexSource source_a(loop_), source_b(loop_);
  auto a = Adapter({0, 1}, source_a);
  auto b = Adapter({2, 3}, source_b);
  std::optional<Result> reply_a, reply_b;
  a->Fence({{kNspace, kPmixWildcardRank}}, true, "AAA", Into(reply_a));
  EXPECT_FALSE(reply_a.has_value()) << "waits for the other server";
  // Naming every rank is a whole-job fence too.
  b->Fence({{kNspace, 0}, {kNspace, 1}, {kNspace, 2}, {kNspace, 3}}, true, "B", Into(reply_b));
  ASSERT_TRUE(reply_a.has_value() && reply_b.has_value());
  ASSERT_TRUE(reply_a->ok()) << reply_a->status();
  EXPECT_EQ(**reply_a, "AAAB");
  EXPECT_EQ(**reply_b, "BAAA");
  EXPECT_TRUE(source_a.requested.empty()) << "collecting fences carry the data themselves";
}

TEST_F(PmixHostAdapterTest, NonCollectingFencePublishesLocalDataForDirectModex) {
  FakeModexSource source_a(loop_), source_b(loop_);
  source_a.data = {{0, "zero"}, {1, "one"}};
  source_a.later = true;
  source_b.data = {{2, ""}, {3, "three"}};
  auto a = Adapter({0, 1}, source_a);
  auto b = Adapter({2, 3}, source_b);
  std::optional<Result> reply_a, reply_b;
  a->Fence({{kNspace, kPmixWildcardRank}}, false, "", Into(reply_a));
  b->Fence({{kNspace, kPmixWildcardRank}}, false, "", Into(reply_b));
  RunUntil([&] { return reply_a.has_value() && reply_b.has_value(); });
  EXPECT_THAT(source_a.requested, ElementsAre(0, 1));
  EXPECT_THAT(source_b.requested, ElementsAre(2, 3));
  ASSERT_TRUE(reply_a->ok()) << reply_a->status();
  EXPECT_EQ(**reply_a, "");  // nothing collected

  std::optional<Result> got0, got3, unknown;
  b->DirectModex({kNspace, 0}, Into(got0));
  a->DirectModex({kNspace, 3}, Into(got3));
  a->DirectModex({kNspace, 9}, Into(unknown));
  ASSERT_TRUE(got0.has_value() && got3.has_value() && unknown.has_value());
  EXPECT_EQ(**got0, "zero");
  EXPECT_EQ(**got3, "three");
  EXPECT_EQ(unknown->status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(a->stats().direct_modex_upcalls, 2);
}

TEST_F(PmixHostAdapterTest, ClientThatNeverCommittedPublishesNothingAfterTheWait) {
  FakeModexSource source_a(loop_), source_b(loop_);
  source_a.data = {{0, "zero"}};  // rank 1 never answers
  source_b.data = {{2, "two"}, {3, "three"}};
  auto a = Adapter({0, 1}, source_a);
  auto b = Adapter({2, 3}, source_b);
  std::optional<Result> reply_a, reply_b;
  const absl::Time start = absl::Now();
  a->Fence({{kNspace, kPmixWildcardRank}}, false, "", Into(reply_a));
  b->Fence({{kNspace, kPmixWildcardRank}}, false, "", Into(reply_b));
  EXPECT_FALSE(reply_a.has_value());
  RunUntil([&] { return reply_a.has_value() && reply_b.has_value(); });
  EXPECT_GE(absl::Now() - start, absl::Milliseconds(20));
  ASSERT_TRUE(reply_a->ok()) << reply_a->status();
  std::optional<Result> got0, got1;
  b->DirectModex({kNspace, 0}, Into(got0));
  b->DirectModex({kNspace, 1}, Into(got1));
  EXPECT_EQ(**got0, "zero");
  // Rank 1 published nothing: other servers' direct modex finds nothing.
  EXPECT_EQ(got1->status().code(), absl::StatusCode::kNotFound);
}

TEST_F(PmixHostAdapterTest, StoppedAdapterAnswersNothingMore) {
  FakeModexSource source_a(loop_), source_b(loop_);
  source_a.data = {{0, "zero"}, {1, "one"}};
  source_a.later = true;
  auto a = Adapter({0, 1}, source_a);
  std::optional<Result> reply;
  a->Fence({{kNspace, kPmixWildcardRank}}, false, "", Into(reply));
  a->Stop();
  bool drained = false;
  loop_.AddTimer(absl::Milliseconds(40), [&] { drained = true; });  // past the wait, too
  RunUntil([&] { return drained; });
  EXPECT_FALSE(reply.has_value());
  EXPECT_EQ(host_.ranks_in_barrier(), 0);
}

}  // namespace
}  // namespace pmi_shim::downstream
