#include "bridge/pmix/value.h"

#include <gtest/gtest.h>
#include <pmix.h>

#include <string>

namespace pmi_shim::pmix {
namespace {

TEST(ValueTest, StringsAndByteObjects) {
  pmix_value_t value;
  PMIX_VALUE_CONSTRUCT(&value);
  char text[] = "hello";
  value.type = PMIX_STRING;
  value.data.string = text;
  EXPECT_EQ(*ValueToString(value), "hello");
  char bytes[] = {'a', '\0', 'b'};
  value.type = PMIX_BYTE_OBJECT;
  value.data.bo.bytes = bytes;
  value.data.bo.size = sizeof(bytes);
  EXPECT_EQ(*ValueToString(value), std::string("a\0b", 3));
  value.type = PMIX_UINT32;
  value.data.uint32 = 4;
  EXPECT_EQ(ValueToString(value).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(ValueTest, Integers) {
  pmix_value_t value;
  PMIX_VALUE_CONSTRUCT(&value);
  value.type = PMIX_UINT32;
  value.data.uint32 = 4;
  EXPECT_EQ(*ValueToUint(value), 4u);
  value.type = PMIX_UINT16;
  value.data.uint16 = 65535;
  EXPECT_EQ(*ValueToUint(value), 65535u);
  value.type = PMIX_INT;
  value.data.integer = -1;
  EXPECT_FALSE(ValueToUint(value).ok());
  value.type = PMIX_BOOL;
  EXPECT_EQ(ValueToUint(value).status().code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace pmi_shim::pmix
