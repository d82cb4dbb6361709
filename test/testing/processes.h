// Finding the processes a test started, and those it left behind.
//
// A launcher must not leave ranks running after it exits, whether the job
// ended normally, by an abort or by Ctrl-C. A test marks everything it starts
// with a unique environment variable (inherited by the launcher and by every
// rank, whatever process group or session they move to) and afterwards scans
// /proc for live processes that still carry it. This is the one /proc scanner
// of the suite: the launch and exec tests, the fault injector, the container
// leftover checks and the private Slurm all use it.
//
//   const std::string marker = UniqueMarkerValue();  // set as kMarkerVar=marker
//   ... run the launcher with that variable set ...
//   EXPECT_THAT(CollectLeftovers(marker), IsEmpty());
#ifndef PMI_SHIM_TEST_TESTING_PROCESSES_H_
#define PMI_SHIM_TEST_TESTING_PROCESSES_H_

#include <sys/types.h>

#include <functional>
#include <map>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace pmi_shim::testutil {

// Name of the marker variable. No PMI_ prefix: launchers and pmi-bridge strip
// PMI_* from what their ranks see.
inline constexpr char kMarkerVar[] = "SHIM_TEST_MARKER";

// A value unique to this call (pid, time, counter).
std::string UniqueMarkerValue();

// One live process seen in /proc.
struct ProcessInfo {
  pid_t pid = 0;
  std::vector<std::string> argv;
  std::map<std::string, std::string> env;

  // argv joined with spaces, for messages.
  std::string CommandLine() const;
  // PMI_RANK, else PMI_ID (hydra's port mode), from the environment.
  std::optional<int> Rank() const;
  // True when argv[0] is `path` or ends with "/" + `path`.
  bool Runs(absl::string_view path) const;
};

// "pid 123: CMDLINE", so that gtest prints leftovers readably.
void PrintTo(const ProcessInfo& process, std::ostream* os);

// Every live (non-zombie) process other than this one for which `keep` is
// true. Processes that exit while being read are skipped, not errors.
std::vector<ProcessInfo> LiveProcesses(const std::function<bool(const ProcessInfo&)>& keep);

// Live processes whose environment holds kMarkerVar=`marker`.
std::vector<ProcessInfo> ProcessesWithMarker(absl::string_view marker);

// Live processes whose command line (arguments joined by spaces) contains
// `needle`, e.g. a scratch directory that dockerd, its shims and conmon name.
std::vector<ProcessInfo> ProcessesWithCmdline(absl::string_view needle);

// True while `pid` exists and is not a zombie.
bool IsRunning(pid_t pid);

// SIGKILLs the listed processes (cleanup after a failed expectation, so one
// failing test does not leave load behind for the next).
void KillProcesses(const std::vector<ProcessInfo>& processes);

// How long a launcher's ranks get to leave /proc after it exited: one that
// killed its ranks just before exiting may still have them in the kernel's
// exit path.
inline constexpr absl::Duration kLeftoverGrace = absl::Milliseconds(500);

// After a job: waits up to `grace` for the processes marked with `marker` to
// go, then SIGKILLs those still there and reaps any this process adopted (as
// a subreaper), so the next test starts clean. Returns what was left.
std::vector<ProcessInfo> CollectLeftovers(absl::string_view marker,
                                          absl::Duration grace = kLeftoverGrace);

}  // namespace pmi_shim::testutil

#endif  // PMI_SHIM_TEST_TESTING_PROCESSES_H_
