#include "bridge/pmix/info_list.h"

#include <gtest/gtest.h>
#include <pmix.h>

#include <string>
#include <utility>

namespace pmi_shim::pmix {
namespace {

TEST(InfoListTest, CopiesValuesOfEachType) {
  std::string host = "node7";
  InfoList info;
  info.AddString(PMIX_HOSTNAME, host).AddUint32(PMIX_JOB_SIZE, 4).AddUint16(PMIX_LOCAL_RANK, 3);
  info.AddRank(PMIX_APPLDR, 2).AddBool(PMIX_COLLECT_DATA, true);
  host = "changed";  // the list holds its own copy
  ASSERT_EQ(info.size(), 5u);
  const pmix_info_t* entries = info.data();
  EXPECT_TRUE(PMIX_CHECK_KEY(&entries[0], PMIX_HOSTNAME));
  EXPECT_EQ(entries[0].value.type, PMIX_STRING);
  EXPECT_STREQ(entries[0].value.data.string, "node7");
  EXPECT_EQ(entries[1].value.data.uint32, 4u);
  EXPECT_EQ(entries[2].value.data.uint16, 3u);
  EXPECT_EQ(entries[3].value.type, PMIX_PROC_RANK);
  EXPECT_EQ(entries[3].value.data.rank, 2u);
  EXPECT_TRUE(PMIX_INFO_TRUE(&entries[4]));
}

TEST(InfoListTest, EmptyListPassesNoArray) {
  InfoList info;
  EXPECT_EQ(info.size(), 0u);
  EXPECT_EQ(info.data(), nullptr);
}

TEST(InfoListTest, ArrayTakesTheInnerListsEntries) {
  InfoList proc;
  proc.AddRank(PMIX_RANK, 1).AddString(PMIX_HOSTNAME, "n1");
  InfoList info;
  info.AddArray(PMIX_PROC_DATA, std::move(proc));
  EXPECT_EQ(proc.size(), 0u);  // NOLINT(bugprone-use-after-move): documented to end empty
  ASSERT_EQ(info.size(), 1u);
  const pmix_value_t& value = info.data()[0].value;
  ASSERT_EQ(value.type, PMIX_DATA_ARRAY);
  ASSERT_EQ(value.data.darray->size, 2u);
  const auto* inner = static_cast<const pmix_info_t*>(value.data.darray->array);
  EXPECT_EQ(inner[0].value.data.rank, 1u);
  EXPECT_STREQ(inner[1].value.data.string, "n1");
}

TEST(InfoListTest, MovesOwnership) {
  InfoList a;
  a.AddString(PMIX_HOSTNAME, "x");
  InfoList b(std::move(a));
  EXPECT_EQ(a.size(), 0u);  // NOLINT(bugprone-use-after-move)
  ASSERT_EQ(b.size(), 1u);
  InfoList c;
  c.AddUint32(PMIX_JOB_SIZE, 1);
  c = std::move(b);
  ASSERT_EQ(c.size(), 1u);
  EXPECT_STREQ(c.data()[0].value.data.string, "x");
}

}  // namespace
}  // namespace pmi_shim::pmix
