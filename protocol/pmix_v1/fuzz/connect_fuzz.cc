// Fuzz target for the connect message decoder. Invariants: nothing
// crashes; errors are DataLoss or InvalidArgument; an accepted request
// has a 1..255-byte nspace, and its re-encoding decodes to the same fields.
#include <cstddef>
#include <cstdint>

#include "absl/strings/string_view.h"
#include "protocol/pmix_v1/header.h"
#include "protocol/pmix_v1/messages.h"
#include "tools/build/fuzz_check.h"

namespace v1 = pmi_shim::protocol::pmix_v1;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const absl::string_view input(reinterpret_cast<const char*>(data), size);
  absl::StatusOr<v1::ConnectRequest> request = v1::DecodeConnectRequest(input);
  if (!request.ok()) {
    FUZZ_CHECK(request.status().code() == absl::StatusCode::kDataLoss ||
               request.status().code() == absl::StatusCode::kInvalidArgument);
    return 0;
  }
  FUZZ_CHECK(!request->nspace.empty() && request->nspace.size() <= v1::kMaxNspaceLength);
  const std::string encoded = v1::EncodeConnectRequest(*request);
  absl::StatusOr<v1::ConnectRequest> back =
      v1::DecodeConnectRequest(absl::string_view(encoded).substr(v1::kHeaderBytes));
  FUZZ_CHECK(back.ok());
  FUZZ_CHECK(back->nspace == request->nspace && back->rank == request->rank &&
             back->version == request->version && back->credential == request->credential);
  return 0;
}
