// Fuzz target for the compact key/value decoder (what bridges read back
// from the host's KVS). Invariants: nothing crashes or allocates without
// bound; errors are DataLoss; whatever decodes re-encodes to something
// that decodes to the same list.
#include <cstddef>
#include <cstdint>
#include <vector>

#include "absl/strings/string_view.h"
#include "protocol/pmix_v1/compact_values.h"
#include "tools/build/fuzz_check.h"

namespace v1 = pmi_shim::protocol::pmix_v1;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const absl::string_view input(reinterpret_cast<const char*>(data), size);
  absl::StatusOr<std::vector<v1::KeyValue>> kvals = v1::DecodeCompact(input);
  if (!kvals.ok()) {
    FUZZ_CHECK(kvals.status().code() == absl::StatusCode::kDataLoss);
    return 0;
  }
  absl::StatusOr<std::vector<v1::KeyValue>> back = v1::DecodeCompact(v1::EncodeCompact(*kvals));
  FUZZ_CHECK(back.ok());
  FUZZ_CHECK(*back == *kvals);
  return 0;
}
