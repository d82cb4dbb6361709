// Fuzz target for the fence request decoder (the body after the command
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
  absl::StatusOr<v1::FenceRequest> request = v1::DecodeFence(input);
  if (!request.ok()) {
    FUZZ_CHECK(request.status().code() == absl::StatusCode::kDataLoss);
    return 0;
  }
  const std::string encoded = v1::EncodeFence(*request);
  absl::StatusOr<std::pair<v1::Command, absl::string_view>> command = v1::DecodeCommand(encoded);
  FUZZ_CHECK(command.ok() && command->first == v1::Command::kFence);
  absl::StatusOr<v1::FenceRequest> back = v1::DecodeFence(command->second);
  FUZZ_CHECK(back.ok());
  FUZZ_CHECK(back->procs == request->procs && back->collect == request->collect);
  return 0;
}
