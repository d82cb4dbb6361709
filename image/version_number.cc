#include "image/version_number.h"

#include "absl/strings/ascii.h"
#include "absl/strings/strip.h"

namespace pmi_shim::image {

std::optional<VersionNumber> ParseVersion(absl::string_view text) {
  absl::ConsumePrefix(&text, "v");
  int parts[3] = {0, 0, 0};
  int count = 0;
  size_t at = 0;
  while (count < 3) {
    if (at >= text.size() || !absl::ascii_isdigit(static_cast<unsigned char>(text[at]))) break;
    long value = 0;
    while (at < text.size() && absl::ascii_isdigit(static_cast<unsigned char>(text[at]))) {
      if (value < 100000) value = value * 10 + (text[at] - '0');
      ++at;
    }
    parts[count++] = static_cast<int>(value);
    if (at >= text.size() || text[at] != '.') break;
    ++at;
  }
  if (count == 0) return std::nullopt;
  return VersionNumber{parts[0], parts[1], parts[2]};
}

bool VersionAtLeast(absl::string_view text, int major, int minor, int patch) {
  std::optional<VersionNumber> version = ParseVersion(text);
  return version.has_value() && *version >= VersionNumber{major, minor, patch};
}

}  // namespace pmi_shim::image
