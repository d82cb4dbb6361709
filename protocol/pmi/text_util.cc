// Quoting of peer bytes for error messages.
#include "protocol/pmi/text_util.h"

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"

namespace pmi_shim::wire::internal {

std::string Quote(absl::string_view text) {
  constexpr size_t kMaxQuoted = 48;
  if (text.size() <= kMaxQuoted) return absl::StrCat("\"", absl::CHexEscape(text), "\"");
  return absl::StrCat("\"", absl::CHexEscape(text.substr(0, kMaxQuoted)), "\"... (", text.size(),
                      " bytes)");
}

}  // namespace pmi_shim::wire::internal
