// Shared pieces of the end-to-end tests (test/e2e), on top of the suite's
// harness (test/testing/launcher.h, rank_lines.h, processes.h): what a
// `pmi-bridge launch` contract error line looks like, what pmi_raw_client
// printed, and the settings every job with PMIx programs needs.
//
//   JobSpec spec;
//   spec.launcher = Launcher::kOpenMpi;
//   spec.command = BridgeExec({}, {ProgramPath("pmix_probe")});
//   AddPmixJobEnv(spec);
//   JobResult out = RunOrAddFailure(spec);
#ifndef PMI_SHIM_TEST_E2E_LAUNCH_UTIL_H_
#define PMI_SHIM_TEST_E2E_LAUNCH_UTIL_H_

#include <optional>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "test/testing/launcher.h"

namespace pmi_shim::e2e {

// The contract's error line for `rank`: a stderr line that starts with
// "pmi-bridge: rank R: ", contains `keyword` and then "; " (the "what to do"
// part). Returns the line, or nullopt.
std::optional<std::string> FindRankError(absl::string_view stderr_text, int rank,
                                         absl::string_view keyword);

// The rc=N value of a PMI reply printed by pmi_raw_client ("recv: ..."), or
// nullopt when the line has no rc token.
std::optional<int> ReplyRc(absl::string_view recv_line);

// The lines printed by pmi_raw_client for its replies ("recv: " stripped).
std::vector<std::string> Replies(absl::string_view stdout_text);

// What every job of PMIx programs (Open MPI apps, libpmix clients) needs
// here, added to spec.env: a TMPDIR of this test process's own
// (PrivateTmpdir), libpmix's known leaks suppressed for ASan builds. No
// transport setting: Open MPI and MPICH run with their defaults.
void AddPmixJobEnv(testutil::JobSpec& spec);

// This test process's TEST_TMPDIR (else /tmp): see AddPmixJobEnv.
std::string PrivateTmpdir();

// testutil::RunJob, for helpers that return a result: a job that could not
// start adds a test failure and comes back empty (exit code -1, the reason
// in its stderr).
testutil::JobResult RunOrAddFailure(const testutil::JobSpec& spec);

}  // namespace pmi_shim::e2e

#endif  // PMI_SHIM_TEST_E2E_LAUNCH_UTIL_H_
