// Small text helpers shared by the PMI-1 and PMI-2 codecs (private to
// protocol/pmi): quoting peer bytes inside error messages.
#ifndef PMI_SHIM_PROTOCOL_PMI_TEXT_UTIL_H_
#define PMI_SHIM_PROTOCOL_PMI_TEXT_UTIL_H_

#include <string>

#include "absl/strings/string_view.h"

namespace pmi_shim::wire::internal {

// `text` in double quotes, C-escaped and cut after a few dozen bytes, so that
// an error about a hostile 64 KiB line stays one short log line.
std::string Quote(absl::string_view text);

}  // namespace pmi_shim::wire::internal

#endif  // PMI_SHIM_PROTOCOL_PMI_TEXT_UTIL_H_
