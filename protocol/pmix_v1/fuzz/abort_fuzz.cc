// Fuzz target for the abort request decoder (the body after the command
// code). Invariants: nothing crashes or allocates without bound; errors
// are DataLoss; an accepted request, encoded again the way a v1.2 client
// encodes it, decodes to the same request.
#include <cstddef>
#include <cstdint>

#include "absl/strings/string_view.h"
#include "protocol/pmix_v1/messages.h"
#include "tools/build/fuzz_check.h"

namespace v1 = pmi_shim::protocol::pmix_v1;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const absl::string_view input(reinterpret_cast<const char*>(data), size);
  absl::StatusOr<v1::AbortRequest> request = v1::DecodeAbort(input);
  if (!request.ok()) {
    FUZZ_CHECK(request.status().code() == absl::StatusCode::kDataLoss);
    return 0;
  }
  const std::string encoded = v1::EncodeAbort(*request);
  absl::StatusOr<std::pair<v1::Command, absl::string_view>> command = v1::DecodeCommand(encoded);
  FUZZ_CHECK(command.ok() && command->first == v1::Command::kAbort);
  absl::StatusOr<v1::AbortRequest> back = v1::DecodeAbort(command->second);
  FUZZ_CHECK(back.ok());
  FUZZ_CHECK(back->status == request->status && back->message == request->message &&
             back->procs == request->procs);
  return 0;
}
