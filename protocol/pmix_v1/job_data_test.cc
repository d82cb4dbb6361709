#include "protocol/pmix_v1/job_data.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "protocol/pmix_v1/buffer.h"
#include "protocol/pmix_v1/constants.h"

namespace pmi_shim::protocol::pmix_v1 {
namespace {

using ::testing::Contains;
using ::testing::Pair;

JobLayout TwoNodes() {
  JobLayout layout;
  layout.nspace = "job";
  layout.size = 4;
  layout.universe_size = 4;
  layout.node_of_rank = {0, 0, 1, 1};
  layout.node_names = {"alpha", "beta"};
  layout.anl_map = "(vector,(0,2,2))";
  return layout;
}

TEST(JobDataTest, JobRecordsAreTheLocalNodesView) {
  const JobLayout layout = TwoNodes();
  ASSERT_TRUE(ValidateLayout(layout).ok());
  std::vector<dstore::Record> records = JobRecords(layout, 1);
  EXPECT_THAT(records, Contains(Pair(kKeyJobSize, Value::Uint32(4))));
  EXPECT_THAT(records, Contains(Pair(kKeyLocalPeers, Value::String("2,3"))));
  EXPECT_THAT(records, Contains(Pair(kKeyLocalSize, Value::Uint32(2))));
  EXPECT_THAT(records, Contains(Pair(kKeyLocalLeader, Value::Uint32(2))));
  EXPECT_THAT(records, Contains(Pair("alpha", Value::String("0,1"))));
  EXPECT_THAT(records, Contains(Pair("beta", Value::String("2,3"))));
  EXPECT_THAT(records, Contains(Pair(kKeyNodeList, Value::String("alpha,beta"))));
}

TEST(JobDataTest, RankRecordsNameTheHostAndLocalRank) {
  std::vector<dstore::Record> records = RankRecords(TwoNodes(), 3);
  EXPECT_THAT(records, Contains(Pair(kKeyRank, Value::Int(3))));
  EXPECT_THAT(records, Contains(Pair(kKeyHostname, Value::String("beta"))));
  EXPECT_THAT(records, Contains(Pair(kKeyLocalRank, Value::Uint16(1))));
  EXPECT_THAT(records, Contains(Pair(kKeyNodeId, Value::Uint32(1))));
}

TEST(JobDataTest, PackedJobDataHasMapAndProcBlobs) {
  const std::string packed = PackedJobData(TwoNodes(), 0);
  absl::StatusOr<std::vector<KeyValue>> kvals = UnpackKeyValues(packed);
  ASSERT_TRUE(kvals.ok()) << kvals.status();
  int proc_blobs = 0;
  for (const KeyValue& kv : *kvals) {
    if (kv.key == kKeyMapBlob) {
      Unpacker map(kv.value.text);
      EXPECT_EQ(map.UnpackSize().value(), 2u);
      absl::StatusOr<KeyValue> node = map.UnpackKeyValue();
      ASSERT_TRUE(node.ok());
      EXPECT_EQ(node->key, "alpha");
      EXPECT_EQ(node->value.text, "0,1");
    }
    if (kv.key == kKeyProcBlob) {
      Unpacker blob(kv.value.text);
      EXPECT_EQ(blob.UnpackInt().value(), proc_blobs);
      ++proc_blobs;
    }
  }
  EXPECT_EQ(proc_blobs, 4);
}

TEST(JobDataTest, ValidateRefusesBrokenLayouts) {
  JobLayout layout = TwoNodes();
  layout.node_of_rank = {0, 0, 2, 1};
  EXPECT_FALSE(ValidateLayout(layout).ok());
  layout = TwoNodes();
  layout.size = 5;
  EXPECT_FALSE(ValidateLayout(layout).ok());
}

}  // namespace
}  // namespace pmi_shim::protocol::pmix_v1
