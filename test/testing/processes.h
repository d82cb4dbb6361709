// Finding processes a test left behind.
//
// A launcher must not leave ranks running after it exits, whether the job
// ended normally, by an abort or by Ctrl-C. A test marks everything it starts
// with a unique environment variable (inherited by the launcher and by every
// rank, whatever process group or session they move to) and afterwards scans
// /proc for live processes that still carry it.
//
//   std::string marker = UniqueMarker();          // "SHIM_TEST_MARKER=..." (no PMI_ prefix:
//                                                 // launchers strip PMI_* from ranks)
//   ... run the launcher with that variable set ...
//   EXPECT_THAT(ProcessesWithMarker(marker), IsEmpty());
#ifndef PMI_SHIM_TEST_TESTING_PROCESSES_H_
#define PMI_SHIM_TEST_TESTING_PROCESSES_H_

#include <sys/types.h>

#include <string>
#include <utility>
#include <vector>

#include "absl/strings/string_view.h"

namespace pmi_shim::testutil {

// Name of the marker variable.
inline constexpr char kMarkerVar[] = "SHIM_TEST_MARKER";

// A value unique to this call (pid, time, counter).
std::string UniqueMarkerValue();

// Live (non-zombie) processes other than this one whose environment holds
// kMarkerVar=`value`, each with its command line (NULs shown as spaces).
std::vector<std::pair<pid_t, std::string>> ProcessesWithMarker(absl::string_view value);

// SIGKILLs the listed processes (cleanup after a failed expectation, so one
// failing test does not leave load behind for the next).
void KillProcesses(const std::vector<std::pair<pid_t, std::string>>& procs);

}  // namespace pmi_shim::testutil

#endif  // PMI_SHIM_TEST_TESTING_PROCESSES_H_
