// Locating a test's data dependencies.
//
// Bazel lays out `data` deps of a test under $TEST_SRCDIR/<workspace>/<path>;
// the workspace is named pmi_shim (see WORKSPACE). Outside `bazel test`,
// RUNFILES_DIR is honoured the same way.
//
//   absl::StatusOr<std::string> bin = Runfile("bridge/cli/pmi-bridge");
#ifndef PMI_SHIM_TEST_TESTING_RUNFILES_H_
#define PMI_SHIM_TEST_TESTING_RUNFILES_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace pmi_shim::testutil {

// Absolute path of `path` (relative to the workspace root, e.g.
// "test/programs/bin/mpi_collectives"). NotFound when no runfiles tree is
// known or the file is not in it (usually: missing from the test's `data`).
absl::StatusOr<std::string> Runfile(absl::string_view path);

}  // namespace pmi_shim::testutil

#endif  // PMI_SHIM_TEST_TESTING_RUNFILES_H_
