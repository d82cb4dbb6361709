// Locating a test's data dependencies; see runfiles.h.
#include "test/testing/runfiles.h"

#include <unistd.h>

#include <cstdlib>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace pmi_shim::testutil {

constexpr char kWorkspace[] = "pmi_shim";

absl::StatusOr<std::string> Runfile(absl::string_view path) {
  const char* root = getenv("TEST_SRCDIR");
  if (root == nullptr || *root == '\0') root = getenv("RUNFILES_DIR");
  if (root == nullptr || *root == '\0') {
    return absl::NotFoundError(absl::StrCat("cannot find ", path,
                                            ": neither TEST_SRCDIR nor RUNFILES_DIR is set ",
                                            "(run it with bazel test)"));
  }
  std::string full = absl::StrCat(root, "/", kWorkspace, "/", path);
  if (access(full.c_str(), F_OK) != 0) {
    return absl::NotFoundError(
        absl::StrCat("cannot find ", full, "; is the target in the test's data?"));
  }
  return full;
}

}  // namespace pmi_shim::testutil
