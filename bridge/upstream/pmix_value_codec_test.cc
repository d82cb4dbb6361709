#include "bridge/upstream/pmix_value_codec.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

#include "test/testing/status_matchers.h"

namespace pmi_shim::upstream {
namespace {

TEST(PmixKeyTest, OrdinaryJobKeysAreUnchanged) {
  EXPECT_EQ(ToPmixKey(KeyScope::kJob, "P3-businesscard"), "P3-businesscard");
  EXPECT_EQ(ToPmixKey(KeyScope::kJob, "PMIX_lookalike"), "PMIX_lookalike");  // case matters
}

TEST(PmixKeyTest, ReservedAndOwnPrefixesAreEscaped) {
  EXPECT_EQ(ToPmixKey(KeyScope::kJob, "pmix.hname"), "pmishim.kvs.pmix.hname");
  EXPECT_EQ(ToPmixKey(KeyScope::kJob, "pmixfoo"), "pmishim.kvs.pmixfoo");
  EXPECT_EQ(ToPmixKey(KeyScope::kJob, "pmishim.dir.0"), "pmishim.kvs.pmishim.dir.0");
  EXPECT_EQ(ToPmixKey(KeyScope::kNode, "shm"), "pmishim.node.shm");
}

TEST(PmixKeyTest, RoundTripsEveryKindOfKey) {
  for (KeyScope scope : {KeyScope::kJob, KeyScope::kNode}) {
    for (const char* key : {"bc-0", "pmix", "pmix.hname", "pmishim", "pmishim.kvs.x",
                            "pmishim.node.y", "pmishim.dir.3", "", "a=b"}) {
      std::optional<ScopedKey> back = FromPmixKey(ToPmixKey(scope, key));
      ASSERT_TRUE(back.has_value()) << key;
      EXPECT_EQ(*back, (ScopedKey{scope, key})) << key;
    }
  }
}

TEST(PmixKeyTest, PmixAndInternalKeysHaveNoPmiName) {
  EXPECT_FALSE(FromPmixKey("pmix.job.size").has_value());
  EXPECT_FALSE(FromPmixKey(KeyDirectoryKey(2)).has_value());
  // Not something ToPmixKey writes: "foo" is never escaped.
  EXPECT_FALSE(FromPmixKey("pmishim.kvs.foo").has_value());
}

TEST(PmixKeyTest, NoTwoPmiKeysShareAPmixKey) {
  const std::vector<std::string> keys = {"x", "pmixx", "pmishim.kvs.pmixx", "pmishim.node.x"};
  std::vector<std::string> mapped;
  for (const std::string& key : keys) {
    mapped.push_back(ToPmixKey(KeyScope::kJob, key));
    mapped.push_back(ToPmixKey(KeyScope::kNode, key));
  }
  mapped.push_back(KeyDirectoryKey(0));
  std::sort(mapped.begin(), mapped.end());
  EXPECT_EQ(std::adjacent_find(mapped.begin(), mapped.end()), mapped.end());
}

TEST(KeyDirectoryTest, RoundTrips) {
  const std::vector<std::string> keys = {"a", "P0-businesscard", "with space", ""};
  absl::StatusOr<std::vector<std::string>> back = DecodeKeyDirectory(EncodeKeyDirectory(keys));
  ASSERT_OK(back);
  EXPECT_EQ(*back, keys);
  back = DecodeKeyDirectory(EncodeKeyDirectory({}));
  ASSERT_OK(back);
  EXPECT_TRUE(back->empty());
}

TEST(KeyDirectoryTest, RejectsForeignBytes) {
  EXPECT_EQ(DecodeKeyDirectory("").status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(DecodeKeyDirectory("hello").status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(RankListTest, ParsesLocalPeers) {
  EXPECT_EQ(*ParseRankList("0,1,2,3"), (std::vector<int>{0, 1, 2, 3}));
  EXPECT_EQ(*ParseRankList("7"), (std::vector<int>{7}));
  EXPECT_FALSE(ParseRankList("").ok());
  EXPECT_FALSE(ParseRankList("0,,1").ok());
  EXPECT_FALSE(ParseRankList("0,-1").ok());
}

TEST(NodesFromPeerListsTest, AssignsEachRankItsNode) {
  absl::StatusOr<std::vector<int>> nodes = NodesFromPeerLists(4, {{0, 2}, {1, 3}});
  ASSERT_OK(nodes);
  EXPECT_EQ(*nodes, (std::vector<int>{0, 1, 0, 1}));
}

TEST(NodesFromPeerListsTest, RejectsGapsDuplicatesAndStrangers) {
  EXPECT_FALSE(NodesFromPeerLists(3, {{0, 1}}).ok());       // rank 2 nowhere
  EXPECT_FALSE(NodesFromPeerLists(2, {{0, 1}, {1}}).ok());  // rank 1 twice
  EXPECT_FALSE(NodesFromPeerLists(2, {{0, 1, 2}}).ok());    // rank 2 not in job
}

std::string Mapping(const std::vector<int>& nodes, size_t max_length = 1023) {
  absl::StatusOr<std::string> mapping = ProcessMappingFromNodes(nodes, max_length);
  return mapping.ok() ? *mapping : mapping.status().ToString();
}

TEST(ProcessMappingFromNodesTest, OneNode) {
  EXPECT_EQ(Mapping({0, 0, 0, 0}), "(vector,(0,1,4))");
  EXPECT_EQ(Mapping({5}), "(vector,(0,1,1))");
}

TEST(ProcessMappingFromNodesTest, BlockPlacementMergesNodes) {
  EXPECT_EQ(Mapping({0, 0, 1, 1}), "(vector,(0,2,2))");
  EXPECT_EQ(Mapping({0, 0, 0, 1}), "(vector,(0,1,3),(1,1,1))");
}

TEST(ProcessMappingFromNodesTest, NodeIdsAreRenumberedByFirstUse) {
  EXPECT_EQ(Mapping({7, 7, 3, 3}), "(vector,(0,2,2))");
}

TEST(ProcessMappingFromNodesTest, CyclicLayoutIsWrittenInFullWhenItFits) {
  EXPECT_EQ(Mapping({0, 1, 0, 1}), "(vector,(0,2,1),(0,2,1))");
}

TEST(ProcessMappingFromNodesTest, TooLongCyclicLayoutIsWrittenOnceAsSlurmDoes) {
  std::vector<int> cyclic;
  for (int rank = 0; rank < 400; ++rank) cyclic.push_back(rank % 2);
  EXPECT_EQ(Mapping(cyclic), "(vector,(0,2,1))");
  // A repetition must start a new block: (0,1,4) is never cut to (0,1,1).
  EXPECT_EQ(ProcessMappingFromNodes({0, 0, 0, 0}, 10).status().code(),
            absl::StatusCode::kOutOfRange);
}

TEST(ProcessMappingFromNodesTest, LayoutThatCannotFitIsOutOfRange) {
  std::vector<int> irregular;
  for (int node = 0; node < 200; ++node) {
    for (int i = 0; i <= node % 3; ++i) irregular.push_back(node);
  }
  absl::StatusOr<std::string> mapping = ProcessMappingFromNodes(irregular, 1023);
  EXPECT_EQ(mapping.status().code(), absl::StatusCode::kOutOfRange) << mapping.status();
}

}  // namespace
}  // namespace pmi_shim::upstream
