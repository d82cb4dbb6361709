// PMI_process_mapping values: the plain form written for our own jobs, and
// host values (Hydra 4.1's extensions among them) re-encoded for old clients.
#include "bridge/upstream/process_mapping.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "test/testing/status_matchers.h"

namespace pmi_shim::upstream {
namespace {

// -------------------------------------------------- FormatProcessMapping --

TEST(ProcessMappingTest, FormatsPlainTriples) {
  EXPECT_EQ(SingleNodeMapping(4), "(vector,(0,1,4))");
  EXPECT_EQ(FormatProcessMapping({{0, 2, 1}, {0, 2, 1}}), "(vector,(0,2,1),(0,2,1))");
}

TEST(ProcessMappingTest, PlainBlocksMergeConsecutiveNodesWithEqualRankCounts) {
  EXPECT_EQ(FormatProcessMapping(PlainBlocks({0, 0, 1, 1, 2})), "(vector,(0,2,2),(2,1,1))");
  EXPECT_EQ(FormatProcessMapping(PlainBlocks({1, 0, 0})), "(vector,(1,1,1),(0,1,2))");
  EXPECT_TRUE(PlainBlocks({}).empty());
}

// ------------------------------------------------ PlainProcessMapping --

TEST(PlainProcessMappingTest, PlainTupleFormsPassThroughUnchanged) {
  for (const char* plain : {"(vector,(0,1,2))", "(vector,(0,2,1))", "(vector, (0,1,1), (1,5,3))"}) {
    absl::StatusOr<std::string> out = PlainProcessMapping(plain, 4);
    ASSERT_OK(out);
    EXPECT_EQ(*out, plain);
  }
}

TEST(PlainProcessMappingTest, PlainFormLongerThanTheValueLimitIsOutOfRange) {
  EXPECT_TRUE(absl::IsOutOfRange(PlainProcessMapping("(vector,(0,1,2))", 2, 10).status()));
}

TEST(PlainProcessMappingTest, RewritesHydra41Extensions) {
  struct Case {
    const char* in;
    int size;
    const char* out;
  };
  for (const Case& c : std::vector<Case>{
           {"(vector,[(0,2,1)]x2)", 4, "(vector,(0,2,1),(0,2,1))"},      // cyclic over 2 nodes
           {"(vector,(0,1,2),1)", 3, "(vector,(0,1,2),(1,1,1))"},        // bare id
           {"(vector,0,1,2)", 3, "(vector,(0,3,1))"},                    // bare ids merge
           {"(vector,[0,1]x3)", 6, "(vector,(0,2,1),(0,2,1),(0,2,1))"},  // repeat of bare ids
           {"(vector,(0,1,2),[(1,2,1)]x2)", 6, "(vector,(0,1,2),(1,2,1),(1,2,1))"},
           {"(vector,1,(0,1,1))", 2, "(vector,(1,1,1),(0,1,1))"},                 // not from node 0
           {"( vector , [ ( 0 , 2 , 1 ) ] x2 )", 4, "(vector,(0,2,1),(0,2,1))"},  // blanks
       }) {
    absl::StatusOr<std::string> out = PlainProcessMapping(c.in, c.size);
    ASSERT_OK(out) << c.in;
    EXPECT_EQ(*out, c.out) << c.in;
  }
}

TEST(PlainProcessMappingTest, RejectsWhatMpichCannotRead) {
  for (const char* bad : {"", "vector,(0,1,1))", "(list,(0,1,1))", "(vector,(0,1))",
                          "(vector,[(0,1,1)]2)", "(vector,(0,-1,1))", "(vector,1)"}) {
    absl::StatusOr<std::string> out = PlainProcessMapping(bad, 2);
    EXPECT_TRUE(absl::IsInvalidArgument(out.status()))
        << bad << " -> " << out.value_or(out.status().ToString());
  }
}

TEST(PlainProcessMappingTest, TooLongPlainFormIsOutOfRange) {
  // 300 ranks, each alone on a node numbered in reverse: no short form.
  std::string extended = "(vector";
  for (int node = 299; node >= 0; --node) absl::StrAppend(&extended, ",", node);
  extended += ")";
  absl::StatusOr<std::string> out = PlainProcessMapping(extended, 300, 1024);
  EXPECT_TRUE(absl::IsOutOfRange(out.status())) << out.value_or(out.status().ToString());
  EXPECT_OK(PlainProcessMapping(extended, 300, 100000));
}

TEST(PlainProcessMappingTest, HugeCountsThatPlaceNobodyDoNotSpin) {
  const absl::Time start = absl::Now();
  EXPECT_TRUE(
      absl::IsInvalidArgument(PlainProcessMapping("(vector,[(0,1,0)]x1000000000)", 4).status()));
  absl::StatusOr<std::string> out = PlainProcessMapping("(vector,(0,1000000000,0),[1]x2)", 4);
  // Repeats from the empty block.
  EXPECT_EQ(out.value_or(out.status().ToString()), "(vector,(1,1,4))");
  EXPECT_LT(absl::Now() - start, absl::Seconds(1));
}

TEST(PlainProcessMappingTest, HugeCountsStopAtTheJobSize) {
  absl::StatusOr<std::string> out =
      PlainProcessMapping("(vector,[(0,1000000000,1)]x1000000000)", 3);
  ASSERT_OK(out);
  EXPECT_EQ(*out, "(vector,(0,3,1))");
}

TEST(PlainProcessMappingTest, ALongRepeatingMapFallsBackToOnePeriod) {
  absl::StatusOr<std::string> out = PlainProcessMapping("(vector,[(0,2,1)]x500)", 1000);
  ASSERT_OK(out);
  EXPECT_EQ(*out, "(vector,(0,2,1))");
}

// ------------------------------------------------------------ NodeOfRank --

TEST(NodeOfRankTest, ReadsEveryFormIntoANodePerRank) {
  EXPECT_EQ(*NodeOfRank("(vector,(0,1,4))", 4), (std::vector<int>{0, 0, 0, 0}));
  EXPECT_EQ(*NodeOfRank("(vector,(0,2,2))", 4), (std::vector<int>{0, 0, 1, 1}));
  // Hydra's cyclic placement as a repeat group, and a short map repeated.
  EXPECT_EQ(*NodeOfRank("(vector,[(0,2,1)]x2)", 4), (std::vector<int>{0, 1, 0, 1}));
  EXPECT_EQ(*NodeOfRank("(vector,(0,2,1))", 5), (std::vector<int>{0, 1, 0, 1, 0}));
  EXPECT_EQ(*NodeOfRank("(vector,1,0)", 2), (std::vector<int>{1, 0}));
}

TEST(NodeOfRankTest, RejectsWhatCannotBeRead) {
  EXPECT_EQ(NodeOfRank("(vector,(0,", 4).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(NodeOfRank("(vector,(0,1,1))", 0).status().code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace pmi_shim::upstream
