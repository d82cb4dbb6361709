// Reading pmix_value_t: the job facts and values libpmix hands back, as the
// plain types the rest of the bridge uses.
#ifndef PMI_SHIM_BRIDGE_PMIX_VALUE_H_
#define PMI_SHIM_BRIDGE_PMIX_VALUE_H_

#include <pmix_common.h>

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"

namespace pmi_shim::pmix {

// Strings and byte objects give their bytes; anything else is
// InvalidArgument naming the type.
absl::StatusOr<std::string> ValueToString(const pmix_value_t& value);

// Unsigned and non-negative signed integers of any width; InvalidArgument
// otherwise.
absl::StatusOr<uint64_t> ValueToUint(const pmix_value_t& value);

}  // namespace pmi_shim::pmix

#endif  // PMI_SHIM_BRIDGE_PMIX_VALUE_H_
