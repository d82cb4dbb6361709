#include "bridge/pmix/value.h"

#include <pmix.h>

#include "absl/strings/str_cat.h"

namespace pmi_shim::pmix {

absl::StatusOr<std::string> ValueToString(const pmix_value_t& value) {
  switch (value.type) {
    case PMIX_STRING:
      return value.data.string == nullptr ? std::string() : std::string(value.data.string);
    case PMIX_BYTE_OBJECT:
      if (value.data.bo.bytes == nullptr) return std::string();
      return std::string(value.data.bo.bytes, value.data.bo.size);
    default:
      return absl::InvalidArgumentError(
          absl::StrCat("value is a ", PMIx_Data_type_string(value.type), ", not a string"));
  }
}

absl::StatusOr<uint64_t> ValueToUint(const pmix_value_t& value) {
  int64_t signed_value = 0;
  switch (value.type) {
    case PMIX_UINT8:
      return value.data.uint8;
    case PMIX_UINT16:
      return value.data.uint16;
    case PMIX_UINT32:
      return value.data.uint32;
    case PMIX_UINT64:
      return value.data.uint64;
    case PMIX_SIZE:
      return value.data.size;
    case PMIX_PROC_RANK:
      return value.data.rank;
    case PMIX_INT8:
      signed_value = value.data.int8;
      break;
    case PMIX_INT16:
      signed_value = value.data.int16;
      break;
    case PMIX_INT32:
      signed_value = value.data.int32;
      break;
    case PMIX_INT64:
      signed_value = value.data.int64;
      break;
    case PMIX_INT:
      signed_value = value.data.integer;
      break;
    default:
      return absl::InvalidArgumentError(
          absl::StrCat("value is a ", PMIx_Data_type_string(value.type), ", not an integer"));
  }
  if (signed_value < 0) {
    return absl::InvalidArgumentError(absl::StrCat("value ", signed_value, " is negative"));
  }
  return static_cast<uint64_t>(signed_value);
}

}  // namespace pmi_shim::pmix
