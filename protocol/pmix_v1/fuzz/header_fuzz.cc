// Fuzz target for the v1.2 message header. Invariants: nothing crashes;
// short input is InvalidArgument, an oversized length OutOfRange; an
// accepted header re-encodes to the same 16 bytes and announces no more
// than the limit.
#include <cstddef>
#include <cstdint>

#include "absl/strings/string_view.h"
#include "protocol/pmix_v1/header.h"
#include "tools/build/fuzz_check.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  namespace v1 = pmi_shim::protocol::pmix_v1;
  const absl::string_view input(reinterpret_cast<const char*>(data), size);
  constexpr uint64_t kLimit = 1 << 20;
  absl::StatusOr<v1::Header> header = v1::DecodeHeader(input, kLimit);
  if (!header.ok()) {
    FUZZ_CHECK(size < v1::kHeaderBytes
                   ? header.status().code() == absl::StatusCode::kInvalidArgument
                   : header.status().code() == absl::StatusCode::kOutOfRange);
    return 0;
  }
  FUZZ_CHECK(size >= v1::kHeaderBytes);
  FUZZ_CHECK(header->nbytes <= kLimit);
  FUZZ_CHECK(v1::EncodeHeader(*header) == input.substr(0, v1::kHeaderBytes));
  return 0;
}
