// Test helper: builds fixture images (rootfs trees in a temp dir) whose
// libraries are real ELF shared objects, compiled at test time with the
// system C compiler, carrying the sonames, version strings and symbols the
// real libraries carry (see library_classifier.h).
#ifndef PMI_SHIM_IMAGE_TESTING_FIXTURE_IMAGE_H_
#define PMI_SHIM_IMAGE_TESTING_FIXTURE_IMAGE_H_

#include <string>
#include <vector>

#include "absl/status/status.h"

namespace pmi_shim::image::testing {

struct FixtureLibrary {
  std::string path;                  // inside the image, e.g. "/usr/lib/libpmix.so.2.1.0"
  std::string soname;                // "" for none
  std::vector<std::string> strings;  // embedded literal strings
  // Exported string symbols: {name, value}.
  std::vector<std::pair<std::string, std::string>> string_symbols;
  std::vector<std::string> int_symbols;  // exported ints (component tables)
  std::vector<std::string>
      needed;                      // "-lfoo"-less names: linked as DT_NEEDED via -Wl,--no-as-needed
  std::vector<std::string> links;  // extra symlinks (image paths) pointing at `path`
};

// Compiles `lib` into root + lib.path (creating directories).
absl::Status WriteLibrary(const std::string& root, const FixtureLibrary& lib);

// Makes a fresh temp directory under TEST_TMPDIR.
std::string MakeTempDir(const std::string& name);

}  // namespace pmi_shim::image::testing

#endif  // PMI_SHIM_IMAGE_TESTING_FIXTURE_IMAGE_H_
