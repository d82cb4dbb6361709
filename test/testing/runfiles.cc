// Locating a test's data dependencies; see runfiles.h.
#include "test/testing/runfiles.h"

#include <unistd.h>

#include <cstdlib>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace pmi_shim::testutil {
namespace {

constexpr char kWorkspace[] = "pmi_shim";

// Where each program lands in the runfiles tree. Genrule outputs sit under
// bin/ because a rule may not share its name with its output.
std::string WorkspacePathOf(absl::string_view name) {
  static const auto* const kPaths = new absl::flat_hash_map<std::string, std::string>({
      {"pmi-bridge", "bridge/cli/pmi-bridge"},
      {"pmi-shim-client", "shim-client/pmi-shim-client"},
      {"pmi-shim-hook", "hook/pmi-shim-hook"},
      {"pmi_raw_client", "test/programs/pmi_raw_client"},
      {"pmix_ompi_app", "bridge/downstream/bin/pmix_ompi_app"},
      {"pmix_probe", "bridge/downstream/pmix_probe"},
  });
  auto it = kPaths->find(name);
  return it != kPaths->end() ? it->second : absl::StrCat("test/programs/bin/", name);
}

}  // namespace

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

std::string ProgramPath(absl::string_view name) {
  const std::string path = WorkspacePathOf(name);
  absl::StatusOr<std::string> full = Runfile(path);
  return full.ok() ? *full : path;
}

std::string BridgePath() { return ProgramPath("pmi-bridge"); }

}  // namespace pmi_shim::testutil
