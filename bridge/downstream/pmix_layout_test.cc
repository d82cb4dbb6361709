// The PMIx server's layout, ANL map and nspace names.
#include "bridge/downstream/pmix_layout.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "test/testing/status_matchers.h"

namespace pmi_shim::downstream {
namespace {

TEST(SanitizeNspaceTest, KeepsSafeCharactersOnly) {
  EXPECT_EQ(SanitizeNspace("pmi-shim-123-0"), "pmi-shim-123-0");
  EXPECT_EQ(SanitizeNspace("kvs_7.x"), "kvs_7.x");
  EXPECT_EQ(SanitizeNspace("a b;c=d"), "a_b_c_d");
  EXPECT_EQ(SanitizeNspace("\xc6\x92"
                           "123"),
            "__123");  // Flux's "ƒ"
  EXPECT_EQ(SanitizeNspace(""), "pmi-shim");
  EXPECT_EQ(SanitizeNspace(std::string(400, 'k')).size(), 255u);
}

TEST(LayoutTest, DefaultsToOneNodeForLocalRanksAndOneNodeForEachOtherRank) {
  auto all = MakeLayout(4, {0, 1, 2, 3}, {});
  ASSERT_OK(all);
  EXPECT_EQ(all->ranks_of_node.size(), 1u);
  EXPECT_EQ(AnlMap(*all), "(vector,(0,1,4))");

  auto exec = MakeLayout(4, {2}, {});
  ASSERT_OK(exec);
  EXPECT_EQ(exec->ranks_of_node.size(), 4u);
  EXPECT_EQ(exec->local_node, 2);
  EXPECT_EQ(AnlMap(*exec), "(vector,(0,4,1))");

  auto middle = MakeLayout(5, {1, 2}, {});
  ASSERT_OK(middle);
  EXPECT_EQ(middle->node_of_rank, (std::vector<int>{0, 1, 1, 2, 3}));
  EXPECT_EQ(AnlMap(*middle), "(vector,(0,1,1),(1,1,2),(2,2,1))");
}

TEST(LayoutTest, TakesAnExplicitLayoutAndChecksIt) {
  auto blocks = MakeLayout(4, {2, 3}, {0, 0, 1, 1});
  ASSERT_OK(blocks);
  EXPECT_EQ(blocks->local_node, 1);
  EXPECT_EQ(AnlMap(*blocks), "(vector,(0,2,2))");

  auto cyclic = MakeLayout(4, {0, 2}, {7, 9, 7, 9});
  ASSERT_OK(cyclic);
  EXPECT_EQ(cyclic->node_of_rank, (std::vector<int>{0, 1, 0, 1}));
  EXPECT_EQ(AnlMap(*cyclic), "(vector,(0,2,1),(0,2,1))");

  EXPECT_FALSE(MakeLayout(4, {0, 1}, {0, 0, 0, 1}).ok());  // rank 2 is not ours
  EXPECT_FALSE(MakeLayout(4, {0, 1}, {0, 0, 1}).ok());     // wrong length
  EXPECT_FALSE(MakeLayout(0, {0}, {}).ok());
}

}  // namespace
}  // namespace pmi_shim::downstream
