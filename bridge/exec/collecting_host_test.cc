// Two bridged ranks, each behind its own CollectingHost, over one job's
// KVS and barrier (an EmbeddedHost stands in for hydra's): after the
// barrier each reads the other's keys from what the fence collected.
#include "bridge/exec/collecting_host.h"

#include <optional>
#include <string>

#include "bridge/session/forwarding_host.h"
#include "bridge/upstream/embedded_host.h"
#include "gtest/gtest.h"
#include "test/testing/status_matchers.h"

namespace pmi_shim::exec {

// Gets answered from the collected data since the start.
class CollectingHostPeer {
 public:
  static int CollectedHits(const CollectingHost& host) { return host.collected_hits_; }
};

namespace {

session::JobInfo Job(int size) {
  session::JobInfo info;
  info.kvsname = "kvs_collect";
  info.size = size;
  info.universe_size = size;
  return info;
}

TEST(ContributionTest, PackedContributionsConcatenate) {
  const KeyValues a = {{"k1", "v1"}, {"empty", ""}};
  const KeyValues b = {{"P1-businesscard", std::string(3000, 'x')}};
  absl::StatusOr<KeyValues> both =
      UnpackContributions(PackContribution(a) + PackContribution(b) + PackContribution({}));
  ASSERT_OK(both);
  KeyValues want = a;
  want.insert(want.end(), b.begin(), b.end());
  EXPECT_EQ(*both, want);
}

TEST(ContributionTest, TruncationIsDataLoss) {
  const std::string packed = PackContribution({{"key", "value"}});
  for (size_t cut = 1; cut < packed.size(); ++cut) {
    EXPECT_FALSE(UnpackContributions(packed.substr(0, cut)).ok()) << "cut at " << cut;
  }
}

TEST(CollectingHostTest, GetsAfterTheBarrierAreServedFromTheFence) {
  upstream::EmbeddedHost job(Job(2), {});
  CollectingHost rank0(job, 0), rank1(job, 1);
  int put_ok = 0;
  rank0.Put(0, "P0-card", "addr0", [&](absl::Status s) { put_ok += s.ok(); });
  rank1.Put(1, "P1-card", std::string(2500, 'c'), [&](absl::Status s) { put_ok += s.ok(); });
  ASSERT_EQ(put_ok, 2);
  int barriers = 0;
  rank0.Barrier(0, [&](absl::Status s) { barriers += s.ok(); });
  rank1.Barrier(1, [&](absl::Status s) { barriers += s.ok(); });
  ASSERT_EQ(barriers, 2);
  std::optional<std::string> got0, got1;
  rank0.Get(0, "P1-card", [&](absl::StatusOr<std::string> v) { got0 = v.value_or("<missing>"); });
  rank1.Get(1, "P0-card", [&](absl::StatusOr<std::string> v) { got1 = v.value_or("<missing>"); });
  EXPECT_EQ(got0, std::string(2500, 'c'));
  EXPECT_EQ(got1, "addr0");
  EXPECT_EQ(CollectingHostPeer::CollectedHits(rank0), 1);
  EXPECT_EQ(CollectingHostPeer::CollectedHits(rank1), 1);
  // A key nobody put still comes from the host, which says it is missing.
  bool missing = false;
  rank0.Get(0, "nope",
            [&](absl::StatusOr<std::string> v) { missing = absl::IsNotFound(v.status()); });
  EXPECT_TRUE(missing);
}

// Counts what reaches the host.
class CountingHost : public session::ForwardingHost {
 public:
  using ForwardingHost::ForwardingHost;
  void Get(int rank, std::string key, GetDone done) override {
    ++gets;
    ForwardingHost::Get(rank, std::move(key), std::move(done));
  }
  int gets = 0;
};

TEST(CollectingHostTest, ABarrierThatNoGetFollowsReadsNothing) {
  upstream::EmbeddedHost job(Job(3), {});
  CountingHost host(job);
  CollectingHost rank0(host, 0), rank1(host, 1), rank2(host, 2);
  int barriers = 0;
  CollectingHost* ranks[] = {&rank0, &rank1, &rank2};
  for (int r = 0; r < 3; ++r) ranks[r]->Barrier(r, [&](absl::Status s) { barriers += s.ok(); });
  EXPECT_EQ(barriers, 3);
  EXPECT_EQ(host.gets, 0) << "MPI_Finalize's barrier must not cost a read per peer";
  // The first get of the epoch reads each peer's bundle once, no more.
  rank0.Get(0, "x", [](absl::StatusOr<std::string>) {});
  const int after_first = host.gets;
  EXPECT_EQ(after_first, 2 + 1);  // two bundles, then "x" itself (nobody put it)
  rank0.Get(0, "y", [](absl::StatusOr<std::string>) {});
  EXPECT_EQ(host.gets, after_first + 1);
}

TEST(CollectingHostTest, APeerWithoutABridgeFallsBackToTheHost) {
  upstream::EmbeddedHost job(Job(2), {});
  CollectingHost rank0(job, 0);
  // Rank 1 talks to the job directly: it publishes no contribution.
  job.Put(1, "P1-card", "direct", [](absl::Status) {});
  int barriers = 0;
  rank0.Barrier(0, [&](absl::Status s) { barriers += s.ok(); });
  job.Barrier(1, [&](absl::Status s) { barriers += s.ok(); });
  ASSERT_EQ(barriers, 2);
  std::optional<std::string> got;
  rank0.Get(0, "P1-card", [&](absl::StatusOr<std::string> v) { got = v.value_or("<missing>"); });
  EXPECT_EQ(got, "direct");
  EXPECT_EQ(CollectingHostPeer::CollectedHits(rank0), 0);
}

}  // namespace
}  // namespace pmi_shim::exec
