// The codec (pure functions) and ModexExchange. Several ModexExchanges over
// one EmbeddedHost stand for several bridges (one PmixServer each) sharing a
// host KVS and barrier, the `pmi-bridge exec` shape; their BlobDone callbacks
// stand for libpmix's modex cbfunc.
#include "bridge/downstream/modex_codec.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "bridge/upstream/embedded_host.h"
#include "test/testing/status_matchers.h"

namespace pmi_shim::downstream::modex {
namespace {

using ::testing::HasSubstr;

std::string RandomBlob(std::mt19937& rng, size_t size) {
  std::string blob(size, '\0');
  std::uniform_int_distribution<int> byte(0, 255);
  for (char& c : blob) c = static_cast<char>(byte(rng));
  return blob;
}

// What a reader does: parse the header, fetch the segments, reassemble.
absl::StatusOr<std::string> Decode(const std::vector<KeyValue>& pairs) {
  absl::StatusOr<Header> header = ParseHeader(pairs.at(0).value);
  if (!header.ok()) return header.status();
  std::vector<std::string> segments;
  for (int i = 1; i <= header->segments; ++i) {
    const std::string key = SegmentKey(pairs[0].key, i, header->segments);
    for (const KeyValue& pair : pairs) {
      if (pair.key == key) segments.push_back(pair.value);
    }
  }
  return Reassemble(*header, segments);
}

void ExpectKvsSafe(const std::vector<KeyValue>& pairs, const CodecLimits& limits) {
  for (size_t i = 0; i < pairs.size(); ++i) {
    const KeyValue& pair = pairs[i];
    EXPECT_LE(pair.key.size(), limits.max_key_bytes) << pair.key;
    EXPECT_LE(pair.value.size(), limits.max_value_bytes) << pair.key;
    EXPECT_EQ(pair.key.find_first_of(" ;=\n"), std::string::npos) << pair.key;
    EXPECT_EQ(pair.value.find_first_of(" ;\n\r\t"), std::string::npos) << pair.key;
    if (i > 0) {
      // Segments are pure encoded text: not even '=' (no base64 padding).
      EXPECT_EQ(pair.value.find_first_not_of(
                    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"),
                std::string::npos)
          << pair.key;
    }
  }
}

TEST(Base64UrlTest, KnownVectors) {
  // RFC 4648 §10 vectors without padding.
  EXPECT_EQ(Base64UrlEncode(""), "");
  EXPECT_EQ(Base64UrlEncode("f"), "Zg");
  EXPECT_EQ(Base64UrlEncode("fo"), "Zm8");
  EXPECT_EQ(Base64UrlEncode("foo"), "Zm9v");
  EXPECT_EQ(Base64UrlEncode("foobar"), "Zm9vYmFy");
  EXPECT_EQ(Base64UrlEncode("\xfb\xff"), "-_8");
  EXPECT_EQ(*Base64UrlDecode("-_8"), "\xfb\xff");
  EXPECT_EQ(*Base64UrlDecode("Zm9vYmE"), "fooba");
}

TEST(Base64UrlTest, RejectsForeignCharactersAndBadLengths) {
  EXPECT_FALSE(Base64UrlDecode("Zm9v=").ok());
  EXPECT_FALSE(Base64UrlDecode("Zm 9v").ok());
  EXPECT_FALSE(Base64UrlDecode("Zm+v").ok());   // standard, not URL alphabet
  EXPECT_FALSE(Base64UrlDecode("Zm9vY").ok());  // length 1 mod 4
  EXPECT_FALSE(Base64UrlDecode("Zh").ok());     // non-zero trailing bits
}

TEST(ModexCodecTest, RoundTripsRandomBlobsUpTo100KiB) {
  std::mt19937 rng(20240611);
  const CodecLimits limits;
  std::vector<size_t> sizes = {0,   1,   2,    3,    4,    100,  700,  701,   702,       767,
                               768, 769, 1023, 1024, 1025, 2047, 4096, 65535, 100 * 1024};
  std::uniform_int_distribution<size_t> any(0, 100 * 1024);
  for (int i = 0; i < 40; ++i) sizes.push_back(any(rng));
  for (size_t size : sizes) {
    SCOPED_TRACE(absl::StrCat("blob of ", size, " bytes"));
    const std::string blob = RandomBlob(rng, size);
    absl::StatusOr<std::vector<KeyValue>> pairs = Encode("shim-px-f1-0", blob, limits);
    ASSERT_OK(pairs);
    ExpectKvsSafe(*pairs, limits);
    absl::StatusOr<std::string> back = Decode(*pairs);
    ASSERT_OK(back);
    EXPECT_EQ(*back, blob);
  }
}

TEST(ModexCodecTest, SmallBlobIsInlineLargeBlobIsSegmented) {
  const CodecLimits limits;
  auto small = Encode("k", std::string(100, 'x'), limits);
  ASSERT_OK(small);
  ASSERT_EQ(small->size(), 1u);
  EXPECT_THAT(small->at(0).value, HasSubstr(",data="));

  auto large = Encode("k", std::string(3000, 'x'), limits);
  ASSERT_OK(large);
  // 3000 bytes -> 4000 characters -> 4 segments of at most 1023.
  ASSERT_EQ(large->size(), 5u);
  EXPECT_EQ(large->at(0).value.rfind("segments=4,bytes=3000,fnv=", 0), 0u) << large->at(0).value;
  EXPECT_EQ(large->at(1).key, "k-seg-1/4");
  EXPECT_EQ(large->at(4).key, "k-seg-4/4");

  auto empty = Encode("k", "", limits);
  ASSERT_OK(empty);
  ASSERT_EQ(empty->size(), 1u);
  EXPECT_EQ(empty->at(0).value, "segments=0,bytes=0,fnv=cbf29ce484222325");
}

TEST(ModexCodecTest, HonoursSmallerLimits) {
  std::mt19937 rng(7);
  CodecLimits limits{/*max_key_bytes=*/40, /*max_value_bytes=*/128};
  const std::string blob = RandomBlob(rng, 5000);
  auto pairs = Encode("shim-px-f12-3", blob, limits);
  ASSERT_OK(pairs);
  ExpectKvsSafe(*pairs, limits);
  EXPECT_EQ(*Decode(*pairs), blob);
}

TEST(ModexCodecTest, RefusesUnusableLimitsAndKeys) {
  EXPECT_FALSE(Encode("k", "x", CodecLimits{63, 50}).ok());
  EXPECT_FALSE(Encode(std::string(64, 'k'), "x", CodecLimits{}).ok());
  EXPECT_FALSE(Encode("", "x", CodecLimits{}).ok());
  // The segment keys would not fit.
  EXPECT_FALSE(Encode(std::string(60, 'k'), std::string(5000, 'x'), CodecLimits{}).ok());
}

TEST(ModexCodecTest, DetectsCorruptedMissingAndReorderedSegments) {
  std::mt19937 rng(11);
  const std::string blob = RandomBlob(rng, 5000);
  auto pairs = Encode("k", blob, CodecLimits{});
  ASSERT_OK(pairs);
  ASSERT_GE(pairs->size(), 4u);
  absl::StatusOr<Header> header = ParseHeader(pairs->at(0).value);
  ASSERT_OK(header);
  std::vector<std::string> segments;
  for (size_t i = 1; i < pairs->size(); ++i) segments.push_back(pairs->at(i).value);
  ASSERT_OK(Reassemble(*header, segments));

  std::vector<std::string> flipped = segments;
  flipped[1][10] = flipped[1][10] == 'A' ? 'B' : 'A';
  EXPECT_EQ(Reassemble(*header, flipped).status().code(), absl::StatusCode::kDataLoss);

  std::vector<std::string> missing = segments;
  missing.pop_back();
  EXPECT_EQ(Reassemble(*header, missing).status().code(), absl::StatusCode::kDataLoss);

  std::vector<std::string> swapped = segments;
  std::swap(swapped[0], swapped[1]);
  EXPECT_EQ(Reassemble(*header, swapped).status().code(), absl::StatusCode::kDataLoss);

  std::vector<std::string> foreign = segments;
  foreign[0][0] = ' ';
  EXPECT_EQ(Reassemble(*header, foreign).status().code(), absl::StatusCode::kDataLoss);

  std::vector<std::string> truncated = segments;
  truncated.back().pop_back();
  EXPECT_EQ(Reassemble(*header, truncated).status().code(), absl::StatusCode::kDataLoss);

  // A header from another blob of the same length (a stale epoch).
  auto other = Encode("k", RandomBlob(rng, 5000), CodecLimits{});
  EXPECT_EQ(Reassemble(*ParseHeader(other->at(0).value), segments).status().code(),
            absl::StatusCode::kDataLoss);
}

TEST(ModexCodecTest, RejectsMalformedHeaders) {
  for (const char* value :
       {"", "segments=1", "segments=x,bytes=1,fnv=0000000000000000",
        "segments=-1,bytes=1,fnv=0000000000000000", "segments=1,bytes=1,fnv=00000000",
        "segments=1,bytes=1,fnv=0x00000000000000", "segments=1,bytes=1,fnv=000000000000000G",
        "segments=1,bytes=999999999999,fnv=0000000000000000",
        "segments=100,bytes=3,fnv=0000000000000000",  // more segments than characters
        "segments=1,bytes=3,fnv=0000000000000000,data=Zm9v",
        "bytes=1,segments=1,fnv=0000000000000000", "hello world"}) {
    EXPECT_EQ(ParseHeader(value).status().code(), absl::StatusCode::kDataLoss) << value;
  }
}

TEST(ModexCodecTest, Fnv1aKnownValues) {
  EXPECT_EQ(Fnv1a64(""), 0xcbf29ce484222325ull);
  EXPECT_EQ(Fnv1a64("a"), 0xaf63dc4c8601ec8cull);
}

}  // namespace
}  // namespace pmi_shim::downstream::modex

namespace pmi_shim::downstream {
namespace {

using ::testing::HasSubstr;

session::JobInfo Job(int size) {
  session::JobInfo info;
  info.kvsname = "kvs_modex_test";
  info.size = size;
  info.universe_size = size;
  return info;
}

std::string RandomBlob(std::mt19937& rng, size_t size) {
  std::string blob(size, '\0');
  std::uniform_int_distribution<int> byte(0, 255);
  for (char& c : blob) c = static_cast<char>(byte(rng));
  return blob;
}

// Forwards to an EmbeddedHost, checks every put is PMI-KVS-safe, and (when
// `deferred`) runs every completion later, from Drain(), in random order.
class CheckingHost : public session::JobHost {
 public:
  CheckingHost(int size, bool deferred) : inner_(Job(size), {}), deferred_(deferred) {}

  const session::JobInfo& info() const override { return inner_.info(); }
  absl::Status ClaimRank(int rank) override { return inner_.ClaimRank(rank); }
  void ReleaseRank(int rank) override { inner_.ReleaseRank(rank); }
  void Put(int rank, std::string key, std::string value, Done done) override {
    EXPECT_LE(key.size(), 63u) << key;
    EXPECT_LE(value.size(), 1023u) << key;
    EXPECT_EQ(key.find_first_of(" ;=\n"), std::string::npos) << key;
    EXPECT_EQ(value.find_first_of(" ;\n"), std::string::npos) << key;
    ++puts;
    if (fail_puts) {
      Later([done] { done(absl::UnavailableError("upstream PMI server went away")); });
      return;
    }
    inner_.Put(rank, key, value, [this, done](absl::Status s) { Later([done, s] { done(s); }); });
  }
  void Get(int rank, std::string key, GetDone done) override {
    ++gets;
    inner_.Get(rank, key,
               [this, done](absl::StatusOr<std::string> v) { Later([done, v] { done(v); }); });
  }
  void Barrier(int rank, Done done) override {
    inner_.Barrier(rank, [this, done](absl::Status s) { Later([done, s] { done(s); }); });
  }
  void PutNodeAttr(int rank, std::string key, std::string value, Done done) override {
    inner_.PutNodeAttr(rank, key, value, done);
  }
  void GetNodeAttr(int rank, std::string key, bool wait, GetDone done) override {
    inner_.GetNodeAttr(rank, key, wait, done);
  }
  void Abort(int rank, int exit_code, std::string message) override {}
  void Finalized(int rank) override {}
  void Lost(int rank, std::string reason) override {}

  void Drain() {
    std::mt19937 rng(5);
    while (!queue_.empty()) {
      std::uniform_int_distribution<size_t> pick(0, queue_.size() - 1);
      const size_t i = pick(rng);
      std::function<void()> next = std::move(queue_[i]);
      queue_.erase(queue_.begin() + i);
      next();
    }
  }

  int puts = 0;
  int gets = 0;
  bool fail_puts = false;

 private:
  void Later(std::function<void()> f) {
    if (deferred_) {
      queue_.push_back(std::move(f));
    } else {
      f();
    }
  }

  upstream::EmbeddedHost inner_;
  bool deferred_;
  std::deque<std::function<void()>> queue_;
};

ModexExchange::Options ExchangeOptions(int size, std::vector<int> local) {
  ModexExchange::Options options;
  options.size = size;
  options.local_ranks = std::move(local);
  return options;
}

// What a libpmix modex cbfunc would receive.
struct Reply {
  std::optional<absl::StatusOr<std::string>> result;
  ModexExchange::BlobDone Callback() {
    return [this](absl::StatusOr<std::string> r) { result = std::move(r); };
  }
};

// Two bridges serving ranks {0,1} and {2,3}: each gets its own blob followed
// by the other's, whatever order the host completes operations in.
TEST(ModexExchangeTest, TwoServersCollectEachOthersBlobs) {
  for (bool deferred : {false, true}) {
    SCOPED_TRACE(deferred ? "deferred host" : "synchronous host");
    CheckingHost host(4, deferred);
    ModexExchange a(host, ExchangeOptions(4, {0, 1}));
    ModexExchange b(host, ExchangeOptions(4, {2, 3}));
    std::mt19937 rng(1);
    const std::string blob_a = RandomBlob(rng, 5000);  // several segments
    const std::string blob_b = RandomBlob(rng, 10);    // inline
    Reply reply_a, reply_b;
    a.Fence({true, blob_a, {}}, reply_a.Callback());
    b.Fence({true, blob_b, {}}, reply_b.Callback());
    host.Drain();
    ASSERT_TRUE(reply_a.result.has_value());
    ASSERT_TRUE(reply_b.result.has_value());
    ASSERT_OK(*reply_a.result);
    ASSERT_OK(*reply_b.result);
    EXPECT_EQ(**reply_a.result, blob_a + blob_b);
    EXPECT_EQ(**reply_b.result, blob_b + blob_a);
    EXPECT_EQ(a.completed_fences(), 1);
  }
}

// Node servers that know the launcher's layout: each puts one blob and
// reads one per other node (3 nodes of 2: 1 put, 2 header gets per fence
// and server, the blobs being inline), where a key per rank would be read
// otherwise; the result is the same.
TEST(ModexExchangeTest, KnownLayoutReadsOneBlobPerNode) {
  for (bool layout : {false, true}) {
    SCOPED_TRACE(layout ? "layout known" : "a key per rank");
    CheckingHost host(6, /*deferred=*/true);
    std::vector<std::unique_ptr<ModexExchange>> servers;
    std::vector<Reply> replies(3);
    for (int node = 0; node < 3; ++node) {
      ModexExchange::Options options = ExchangeOptions(6, {2 * node, 2 * node + 1});
      if (layout) options.node_of_rank = {7, 7, 3, 3, 5, 5};  // any ids
      servers.push_back(std::make_unique<ModexExchange>(host, options));
      servers.back()->Fence({true, absl::StrCat("node", node), {}}, replies[node].Callback());
    }
    host.Drain();
    for (int node = 0; node < 3; ++node) {
      ASSERT_TRUE(replies[node].result.has_value());
      ASSERT_TRUE(replies[node].result->ok()) << replies[node].result->status();
    }
    EXPECT_EQ(**replies[0].result, "node0node1node2");
    EXPECT_EQ(**replies[2].result, "node2node0node1");
    EXPECT_EQ(host.puts, layout ? 3 : 6);
    EXPECT_EQ(host.gets, layout ? 6 : 12);
  }
}

// The exec shape: one rank per server, four servers, three fences in a row
// (each epoch uses fresh keys, so stale data cannot leak into a later one).
TEST(ModexExchangeTest, OneRankPerServerOverSeveralFences) {
  CheckingHost host(4, /*deferred=*/true);
  std::vector<std::unique_ptr<ModexExchange>> servers;
  for (int rank = 0; rank < 4; ++rank) {
    servers.push_back(std::make_unique<ModexExchange>(host, ExchangeOptions(4, {rank})));
  }
  std::mt19937 rng(2);
  for (int fence = 1; fence <= 3; ++fence) {
    std::vector<std::string> blobs;
    std::vector<Reply> replies(4);
    for (int rank = 0; rank < 4; ++rank) {
      blobs.push_back(RandomBlob(rng, 100 + 3000 * rank));
      servers[rank]->Fence({true, blobs[rank], {}}, replies[rank].Callback());
    }
    host.Drain();
    for (int rank = 0; rank < 4; ++rank) {
      ASSERT_TRUE(replies[rank].result.has_value()) << "rank " << rank;
      ASSERT_OK(*replies[rank].result);
      std::string expected = blobs[rank];
      for (int other = 0; other < 4; ++other) {
        if (other != rank) expected += blobs[other];
      }
      EXPECT_EQ(**replies[rank].result, expected) << "fence " << fence << " rank " << rank;
    }
  }
}

TEST(ModexExchangeTest, QueuedFencesRunOneAfterAnother) {
  CheckingHost host(2, /*deferred=*/true);
  ModexExchange a(host, ExchangeOptions(2, {0}));
  ModexExchange b(host, ExchangeOptions(2, {1}));
  Reply a1, a2, b1, b2;
  a.Fence({true, "a1", {}}, a1.Callback());
  a.Fence({true, "a2", {}}, a2.Callback());  // a non-blocking fence behind the first
  b.Fence({true, "b1", {}}, b1.Callback());
  b.Fence({true, "b2", {}}, b2.Callback());
  host.Drain();
  ASSERT_TRUE(a2.result.has_value() && a2.result->ok());
  EXPECT_EQ(**a1.result, "a1b1");
  EXPECT_EQ(**a2.result, "a2b2");
  EXPECT_EQ(**b2.result, "b2a2");
  EXPECT_EQ(a.completed_fences(), 2);
}

TEST(ModexExchangeTest, NonCollectingFencePublishesDirectModexData) {
  CheckingHost host(4, /*deferred=*/false);
  ModexExchange a(host, ExchangeOptions(4, {0, 1}));
  ModexExchange b(host, ExchangeOptions(4, {2, 3}));
  Reply early;
  b.DirectModex(0, early.Callback());
  ASSERT_TRUE(early.result.has_value());
  EXPECT_EQ(early.result->status().code(), absl::StatusCode::kNotFound);

  std::mt19937 rng(3);
  const std::string rank0 = RandomBlob(rng, 4000);
  const std::string rank1 = RandomBlob(rng, 30);
  Reply fence_a, fence_b;
  const int gets_before = host.gets;
  a.Fence({false, "ignored", {{0, rank0}, {1, rank1}}}, fence_a.Callback());
  b.Fence({false, "", {{2, ""}, {3, "x"}}}, fence_b.Callback());
  ASSERT_TRUE(fence_a.result.has_value() && fence_a.result->ok());
  EXPECT_EQ(**fence_a.result, "");    // nothing collected
  EXPECT_EQ(host.gets, gets_before);  // and nothing read

  Reply got0, got1, got2, got3;
  b.DirectModex(0, got0.Callback());
  b.DirectModex(1, got1.Callback());
  a.DirectModex(2, got2.Callback());
  a.DirectModex(3, got3.Callback());
  EXPECT_EQ(**got0.result, rank0);
  EXPECT_EQ(**got1.result, rank1);
  EXPECT_EQ(**got2.result, "");
  EXPECT_EQ(**got3.result, "x");
}

// A rank that is not served by a pmi-shim PMIx server (say a PMI-1 client
// that only enters the barrier) publishes nothing: the fence fails loudly
// instead of handing libpmix partial data.
TEST(ModexExchangeTest, MissingContributionFailsTheFence) {
  CheckingHost host(2, /*deferred=*/false);
  ModexExchange a(host, ExchangeOptions(2, {0}));
  Reply reply;
  a.Fence({true, "blob", {}}, reply.Callback());
  EXPECT_FALSE(reply.result.has_value());  // waiting for rank 1 in the barrier
  host.Barrier(1, [](absl::Status) {});
  ASSERT_TRUE(reply.result.has_value());
  EXPECT_EQ(reply.result->status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(reply.result->status().message(), HasSubstr("no data from rank 1"));
}

TEST(ModexExchangeTest, HostFailuresReachTheCallbackAndLaterFencesStillRun) {
  CheckingHost host(1, /*deferred=*/true);
  ModexExchange a(host, ExchangeOptions(1, {0}));
  host.fail_puts = true;
  Reply failed;
  a.Fence({true, "blob", {}}, failed.Callback());
  host.Drain();
  ASSERT_TRUE(failed.result.has_value());
  EXPECT_EQ(failed.result->status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(failed.result->status().message(), HasSubstr("went away"));

  host.fail_puts = false;
  Reply ok;
  a.Fence({true, "again", {}}, ok.Callback());
  host.Drain();
  ASSERT_TRUE(ok.result.has_value() && ok.result->ok()) << ok.result->status();
  EXPECT_EQ(**ok.result, "again");
}

TEST(ModexExchangeTest, CorruptSegmentIsReportedNotDelivered) {
  CheckingHost host(2, /*deferred=*/false);
  ModexExchange b(host, ExchangeOptions(2, {1}));
  // A bogus "server" for rank 0 whose segment does not match its header.
  host.Put(0, "shim-px-f1-0", "segments=1,bytes=3,fnv=0000000000000000", [](absl::Status) {});
  host.Put(0, "shim-px-f1-0-seg-1/1", "Zm9v", [](absl::Status) {});
  host.Barrier(0, [](absl::Status) {});
  Reply reply;
  b.Fence({true, "mine", {}}, reply.Callback());
  ASSERT_TRUE(reply.result.has_value());
  EXPECT_EQ(reply.result->status().code(), absl::StatusCode::kDataLoss);
}

// The host may still hold a barrier callback when the bridge shuts down.
TEST(ModexExchangeTest, CallbacksAfterDestructionAreHarmless) {
  CheckingHost host(2, /*deferred=*/false);
  bool called = false;
  {
    ModexExchange a(host, ExchangeOptions(2, {0}));
    a.Fence({true, "blob", {}}, [&](absl::StatusOr<std::string>) { called = true; });
  }
  host.Barrier(1, [](absl::Status) {});  // completes a's barrier after a is gone
  EXPECT_FALSE(called);
}

}  // namespace
}  // namespace pmi_shim::downstream
