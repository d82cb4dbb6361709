// The dstore image laid out in plain memory, read back the client's way.
#include "protocol/pmix_v1/dstore_format.h"

#include <map>
#include <memory>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "protocol/pmix_v1/constants.h"
#include "protocol/pmix_v1/header.h"

namespace pmi_shim::protocol::pmix_v1::dstore {
namespace {

struct Memory {
  std::map<std::string, std::unique_ptr<std::string>> segments;
  DstoreImage::SegmentFactory Factory(const std::string& nspace) {
    return [this, nspace](SegmentKind kind, uint32_t id,
                          size_t size) -> absl::StatusOr<absl::Span<char>> {
      auto& segment = segments[SegmentFileName(kind, nspace, id)];
      segment = std::make_unique<std::string>(size, '\0');
      return absl::Span<char>(segment->data(), segment->size());
    };
  }
};

std::string PackedValue(const Value& value) {
  Packer p;
  p.PackValue(value);
  return p.Take();
}

TEST(DstoreFormatTest, LayoutOfTheInitialAndMetaSegments) {
  Memory memory;
  absl::StatusOr<DstoreImage> image = DstoreImage::Create("ns-1", Sizes{}, memory.Factory("ns-1"));
  ASSERT_TRUE(image.ok()) << image.status();
  const std::string& initial = *memory.segments["initial-pmix_shared-segment-0"];
  EXPECT_EQ(initial.size(), 4096u);
  EXPECT_EQ(ReadLittleEndian64(initial.data()), 1u);             // one nspace
  EXPECT_EQ(ReadLittleEndian64(initial.data() + 8), 0u);         // not full
  EXPECT_EQ(std::string(initial.data() + 16), "ns-1");           // name[256]
  EXPECT_EQ(ReadLittleEndian64(initial.data() + 16 + 272), 1u);  // meta segments
  EXPECT_EQ(ReadLittleEndian64(initial.data() + 16 + 280), 1u);  // data segments
  ASSERT_TRUE(memory.segments.count("smseg-ns-1-0"));
  ASSERT_TRUE(memory.segments.count("smdataseg-ns-1-0"));
  EXPECT_EQ(ReadLittleEndian64(memory.segments["smdataseg-ns-1-0"]->data()), 8u);

  ASSERT_TRUE(image->StoreRank(kRankWildcard, {{"pmix.job.size", Value::Uint32(4)}}).ok());
  ASSERT_TRUE(image->StoreRank(2, {{"a", Value::String("x")}, {"b", Value::Int(3)}}).ok());
  const std::string& meta = *memory.segments["smseg-ns-1-0"];
  // Slot 0: the job, at the first free offset 8, one record.
  EXPECT_EQ(ReadLittleEndian64(meta.data() + 8 + 8), 8u);
  EXPECT_EQ(ReadLittleEndian64(meta.data() + 8 + 16), 1u);
  // Slot 3: rank 2, two records; slots 1 and 2 empty.
  EXPECT_EQ(ReadLittleEndian64(meta.data() + 8 + 1 * 24 + 8), 0u);
  EXPECT_NE(ReadLittleEndian64(meta.data() + 8 + 3 * 24 + 8), 0u);
  EXPECT_EQ(ReadLittleEndian64(meta.data() + 8 + 3 * 24 + 16), 2u);
  // The first record as the client parses it.
  const std::string& data = *memory.segments["smdataseg-ns-1-0"];
  EXPECT_EQ(std::string(data.data() + 8), "pmix.job.size");
  const uint64_t size = ReadLittleEndian64(data.data() + 8 + 14);
  EXPECT_EQ(std::string(data.data() + 8 + 22, size), PackedValue(Value::Uint32(4)));
}

TEST(DstoreFormatTest, RewritesReplaceARanksRecords) {
  Memory memory;
  absl::StatusOr<DstoreImage> image = DstoreImage::Create("n", Sizes{}, memory.Factory("n"));
  ASSERT_TRUE(image.ok());
  ASSERT_TRUE(image->StoreRank(0, {{"k", Value::String("old")}}).ok());
  ASSERT_TRUE(image->StoreRank(0, {{"k", Value::String("new")}, {"m", Value::Int(1)}}).ok());
  absl::StatusOr<std::vector<std::pair<std::string, std::string>>> records = image->ReadRank(0);
  ASSERT_TRUE(records.ok()) << records.status();
  ASSERT_EQ(records->size(), 2u);
  EXPECT_EQ((*records)[0].second, PackedValue(Value::String("new")));
  EXPECT_FALSE(image->ReadRank(5).ok());
}

TEST(DstoreFormatTest, SpillsIntoANewDataSegment) {
  Memory memory;
  Sizes sizes;
  sizes.data = 4096;
  absl::StatusOr<DstoreImage> image = DstoreImage::Create("n", sizes, memory.Factory("n"));
  ASSERT_TRUE(image.ok());
  for (int rank = 0; rank < 8; ++rank) {
    ASSERT_TRUE(
        image->StoreRank(rank, {{"blob", Value::String(std::string(1000, 'a' + rank))}}).ok());
  }
  EXPECT_GT(image->data_segments(), 1);
  EXPECT_TRUE(memory.segments.count("smdataseg-n-1"));
  EXPECT_EQ(ReadLittleEndian64(memory.segments["initial-pmix_shared-segment-0"]->data() + 16 + 280),
            static_cast<uint64_t>(image->data_segments()));
  for (int rank = 0; rank < 8; ++rank) {
    absl::StatusOr<std::vector<std::pair<std::string, std::string>>> records =
        image->ReadRank(rank);
    ASSERT_TRUE(records.ok()) << rank;
    EXPECT_EQ((*records)[0].second, PackedValue(Value::String(std::string(1000, 'a' + rank))));
  }
  EXPECT_EQ(image->StoreRank(9, {{"huge", Value::String(std::string(5000, 'x'))}}).code(),
            absl::StatusCode::kResourceExhausted);
}

TEST(DstoreFormatTest, RefusesBadNamespaces) {
  Memory memory;
  EXPECT_FALSE(DstoreImage::Create("", Sizes{}, memory.Factory("")).ok());
  EXPECT_FALSE(DstoreImage::Create(std::string(256, 'n'), Sizes{}, memory.Factory("x")).ok());
}

}  // namespace
}  // namespace pmi_shim::protocol::pmix_v1::dstore
