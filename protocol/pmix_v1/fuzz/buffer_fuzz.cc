// Fuzz target for the bfrops v12 buffer decoder: the input read as packed
// KVALs (what a commit carries), as one VALUE, and as procs and infos
// under the count the first four bytes give. Invariants: nothing crashes
// or allocates without bound; errors are DataLoss; whatever decodes,
// packed again with Packer, decodes to the same values.
#include <cstddef>
#include <cstdint>
#include <vector>

#include "absl/strings/string_view.h"
#include "protocol/pmix_v1/buffer.h"
#include "tools/build/fuzz_check.h"

namespace v1 = pmi_shim::protocol::pmix_v1;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const absl::string_view input(reinterpret_cast<const char*>(data), size);
  absl::StatusOr<std::vector<v1::KeyValue>> kvals = v1::UnpackKeyValues(input);
  if (kvals.ok()) {
    v1::Packer again;
    for (const v1::KeyValue& kv : *kvals) again.PackKeyValue(kv);
    absl::StatusOr<std::vector<v1::KeyValue>> back = v1::UnpackKeyValues(again.bytes());
    FUZZ_CHECK(back.ok());
    FUZZ_CHECK(*back == *kvals);
  } else {
    FUZZ_CHECK(kvals.status().code() == absl::StatusCode::kDataLoss);
  }
  v1::Unpacker value_in(input);
  absl::StatusOr<v1::Value> value = value_in.UnpackValue();
  if (value.ok()) {
    v1::Packer again;
    again.PackValue(*value);
    v1::Unpacker back_in(again.bytes());
    absl::StatusOr<v1::Value> back = back_in.UnpackValue();
    FUZZ_CHECK(back.ok() && *back == *value && back_in.AtEnd());
  }
  if (size >= 1) {
    const uint64_t count = data[0] % 8;
    v1::Unpacker procs_in(input.substr(1));
    absl::StatusOr<std::vector<v1::Proc>> procs = procs_in.UnpackProcs(count);
    if (procs.ok()) FUZZ_CHECK(procs->size() == count);
    v1::Unpacker infos_in(input.substr(1));
    absl::StatusOr<std::vector<v1::Info>> infos = infos_in.UnpackInfos(count);
    if (infos.ok()) FUZZ_CHECK(infos->size() == count);
  }
  return 0;
}
