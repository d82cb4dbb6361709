#include "bridge/upstream/embedded_host.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "bridge/upstream/process_mapping.h"
#include "test/testing/status_matchers.h"

namespace pmi_shim::upstream {
namespace {

session::JobInfo InfoOfSize(int size) {
  session::JobInfo info;
  info.kvsname = "kvs_test";
  info.size = size;
  info.universe_size = size;
  info.process_mapping = SingleNodeMapping(size);
  return info;
}

TEST(EmbeddedHostTest, BarrierCompletesOnlyWhenEveryRankEntered) {
  EmbeddedHost host(InfoOfSize(3), {});
  std::vector<int> released;
  for (int rank : {2, 0}) {
    host.Barrier(rank, [&, rank](absl::Status s) {
      ASSERT_OK(s);
      released.push_back(rank);
    });
  }
  EXPECT_TRUE(released.empty());
  EXPECT_EQ(host.ranks_in_barrier(), 2);
  EXPECT_TRUE(host.InBarrier(2));
  EXPECT_FALSE(host.InBarrier(1));
  host.Barrier(1, [&](absl::Status s) { released.push_back(1); });
  EXPECT_EQ(released, (std::vector<int>{2, 0, 1}));
  EXPECT_EQ(host.ranks_in_barrier(), 0);
  EXPECT_EQ(host.barrier_epoch(), 1);
}

TEST(EmbeddedHostTest, EnteringTheSameBarrierTwiceFails) {
  EmbeddedHost host(InfoOfSize(2), {});
  host.Barrier(0, [](absl::Status) {});
  absl::Status second;
  host.Barrier(0, [&](absl::Status s) { second = s; });
  EXPECT_EQ(second.code(), absl::StatusCode::kFailedPrecondition);
}

TEST(EmbeddedHostTest, PutThenGetAndMissingKeyIsNotFound) {
  EmbeddedHost host(InfoOfSize(2), {});
  absl::Status put = absl::UnknownError("not called");
  host.Put(0, "bc-0", "abc", [&](absl::Status s) { put = s; });
  ASSERT_OK(put);
  std::string value;
  host.Get(1, "bc-0", [&](absl::StatusOr<std::string> v) { value = *v; });
  EXPECT_EQ(value, "abc");
  absl::Status missing;
  host.Get(1, "-NONEXIST-KEY", [&](absl::StatusOr<std::string> v) { missing = v.status(); });
  EXPECT_EQ(missing.code(), absl::StatusCode::kNotFound);
  host.Get(1, "PMI_process_mapping", [&](absl::StatusOr<std::string> v) { value = *v; });
  EXPECT_EQ(value, "(vector,(0,1,2))");
}

TEST(EmbeddedHostTest, ClaimRankRejectsDuplicatesAndOutOfRange) {
  EmbeddedHost host(InfoOfSize(2), {});
  EXPECT_OK(host.ClaimRank(1));
  EXPECT_EQ(host.ClaimRank(1).code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(host.ClaimRank(2).code(), absl::StatusCode::kOutOfRange);
}

TEST(EmbeddedHostTest, WaitingNodeAttrGetIsAnsweredByALaterPut) {
  EmbeddedHost host(InfoOfSize(2), {});
  std::string value;
  host.GetNodeAttr(0, "shm", /*wait=*/true, [&](absl::StatusOr<std::string> v) { value = *v; });
  EXPECT_EQ(value, "");
  absl::Status no_wait;
  host.GetNodeAttr(0, "other", false, [&](absl::StatusOr<std::string> v) { no_wait = v.status(); });
  EXPECT_EQ(no_wait.code(), absl::StatusCode::kNotFound);
  host.PutNodeAttr(1, "shm", "/dev/shm/x", [](absl::Status s) { ASSERT_OK(s); });
  EXPECT_EQ(value, "/dev/shm/x");
}

TEST(EmbeddedHostTest, AbortAndLostReachTheOwner) {
  int abort_rank = -1, abort_code = 0, lost_rank = -1;
  std::string abort_message;
  EmbeddedHost::Events events;
  events.abort = [&](int rank, int code, const std::string& message) {
    abort_rank = rank;
    abort_code = code;
    abort_message = message;
  };
  events.lost = [&](int rank, const std::string&) { lost_rank = rank; };
  EmbeddedHost host(InfoOfSize(2), events);
  host.Abort(1, 7, "boom");
  host.Lost(0, "gone");
  EXPECT_EQ(abort_rank, 1);
  EXPECT_EQ(abort_code, 7);
  EXPECT_EQ(abort_message, "boom");
  EXPECT_EQ(lost_rank, 0);
}

}  // namespace
}  // namespace pmi_shim::upstream
