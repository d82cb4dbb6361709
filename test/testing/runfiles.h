// Locating a test's data dependencies, and the one table of the programs the
// tests run (pmi-shim's three binaries and the MPI/PMI test programs).
//
// Bazel lays out `data` deps of a test under $TEST_SRCDIR/<workspace>/<path>;
// the workspace is named pmi_shim (see WORKSPACE). Outside `bazel test`,
// RUNFILES_DIR is honoured the same way.
//
//   absl::StatusOr<std::string> bin = Runfile("bridge/cli/pmi-bridge");
//   spec.command = {ProgramPath("mpi_collectives")};  // the test's data must list it
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

// Absolute path of a program by name: "pmi-bridge", "pmi-shim-client",
// "pmi-shim-hook", the programs of //test/programs ("mpi_collectives",
// "pmi2_kvs", "pmi_raw_client", "mpi_abort", "mpi_abort_ompi", "mpi_hello")
// and of //bridge/downstream ("pmix_ompi_app", "pmix_probe"). When it is not
// in the runfiles (missing from the test's `data`) the workspace-relative
// path comes back, so that running it fails with a message naming it.
std::string ProgramPath(absl::string_view name);

// ProgramPath("pmi-bridge"): the bridge under test (//bridge/cli:pmi-bridge).
std::string BridgePath();

}  // namespace pmi_shim::testutil

#endif  // PMI_SHIM_TEST_TESTING_RUNFILES_H_
