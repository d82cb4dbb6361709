// Version numbers as found in libraries and environments ("4.2.2rc2",
// "2021.10", "5.0.9"), compared numerically. Pure.
#ifndef PMI_SHIM_IMAGE_VERSION_NUMBER_H_
#define PMI_SHIM_IMAGE_VERSION_NUMBER_H_

#include <optional>
#include <string>

#include "absl/strings/string_view.h"

namespace pmi_shim::image {

struct VersionNumber {
  int major = 0;
  int minor = 0;
  int patch = 0;

  friend bool operator<(const VersionNumber& a, const VersionNumber& b) {
    if (a.major != b.major) return a.major < b.major;
    if (a.minor != b.minor) return a.minor < b.minor;
    return a.patch < b.patch;
  }
  friend bool operator>=(const VersionNumber& a, const VersionNumber& b) { return !(a < b); }
  friend bool operator==(const VersionNumber& a, const VersionNumber& b) {
    return a.major == b.major && a.minor == b.minor && a.patch == b.patch;
  }
};

// Leading "v" allowed; missing parts are 0; a suffix such as "rc2" or "a1"
// after the last number is ignored. nullopt when it does not start with a
// number.
std::optional<VersionNumber> ParseVersion(absl::string_view text);

// True when `text` parses and is >= major.minor.patch.
bool VersionAtLeast(absl::string_view text, int major, int minor, int patch = 0);

}  // namespace pmi_shim::image

#endif  // PMI_SHIM_IMAGE_VERSION_NUMBER_H_
