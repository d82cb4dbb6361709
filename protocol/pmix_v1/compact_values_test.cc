#include "protocol/pmix_v1/compact_values.h"

#include "gtest/gtest.h"

namespace pmi_shim::protocol::pmix_v1 {
namespace {

TEST(CompactValuesTest, EveryKindRoundTripsAsTheV1DecoderSeesIt) {
  Value i16;
  i16.type = DataType::kInt16;
  i16.bits = 0xfffe;  // -2 as the decoder keeps it
  Value i64;
  i64.type = DataType::kInt64;
  i64.bits = static_cast<uint64_t>(-1234567890123LL);
  Value f;
  f.type = DataType::kDouble;
  f.text = "3.250000";
  Value array;
  array.type = DataType::kInfoArray;
  array.array = {{"x", Value::Uint32(7)}};
  const std::vector<KeyValue> kvals = {{"s", Value::String("value-1-of-rank-2")},
                                       {"i", Value::Int(-5)},
                                       {"u", Value::Uint32(9)},
                                       {"z", Value::Size(1ull << 50)},
                                       {"b", Value::Bool(true)},
                                       {"h", i16},
                                       {"l", i64},
                                       {"f", f},
                                       {"a", array},
                                       {"o", Value::ByteObject(std::string("\0\1\2", 3))}};
  // Compare against the v1 decoder's own view of these values.
  Packer packed;
  for (const KeyValue& kv : kvals) packed.PackKeyValue(kv);
  absl::StatusOr<std::vector<KeyValue>> reference = UnpackKeyValues(packed.bytes());
  ASSERT_TRUE(reference.ok()) << reference.status();
  absl::StatusOr<std::vector<KeyValue>> back = DecodeCompact(EncodeCompact(*reference));
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(*back, *reference);
}

TEST(CompactValuesTest, IsSmallerForBusinessCards) {
  std::vector<KeyValue> kvals;
  for (int k = 0; k < 64; ++k) {
    kvals.push_back({"v1-key-" + std::to_string(k),
                     Value::String("value-" + std::to_string(k) + "-of-rank-3")});
  }
  Packer packed;
  for (const KeyValue& kv : kvals) packed.PackKeyValue(kv);
  EXPECT_LT(EncodeCompact(kvals).size() * 10, packed.bytes().size() * 7);
}

TEST(CompactValuesTest, RefusesDamage) {
  const std::string good = EncodeCompact({{"k", Value::String("abc")}});
  for (size_t cut = 1; cut < good.size(); ++cut) {
    EXPECT_FALSE(DecodeCompact(good.substr(0, cut)).ok()) << cut;
  }
  EXPECT_FALSE(DecodeCompact(std::string("k\0\xc8", 3)).ok());  // unknown kind 200
  EXPECT_FALSE(DecodeCompact(std::string(600, 'k')).ok());      // no NUL
  EXPECT_FALSE(
      DecodeCompact(std::string("k\0\x03\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01", 14)).ok());
}

}  // namespace
}  // namespace pmi_shim::protocol::pmix_v1
