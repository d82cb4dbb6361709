// Fuzz target for the get request decoder (the body after the command
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
  absl::StatusOr<v1::GetRequest> request = v1::DecodeGet(input);
  if (!request.ok()) {
    FUZZ_CHECK(request.status().code() == absl::StatusCode::kDataLoss);
    return 0;
  }
  const std::string encoded = v1::EncodeGet(*request);
  absl::StatusOr<std::pair<v1::Command, absl::string_view>> command = v1::DecodeCommand(encoded);
  FUZZ_CHECK(command.ok() && command->first == v1::Command::kGet);
  absl::StatusOr<v1::GetRequest> back = v1::DecodeGet(command->second);
  FUZZ_CHECK(back.ok());
  FUZZ_CHECK(back->nspace == request->nspace && back->rank == request->rank &&
             back->info == request->info);
  return 0;
}
