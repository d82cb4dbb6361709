// Shared pieces of the `pmi-bridge launch` end-to-end tests; see launch_util.h.
#include "test/e2e/launch_util.h"

#include <cstdlib>
#include <fstream>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "test/testing/processes.h"
#include "test/testing/runfiles.h"

namespace pmi_shim::e2e {
namespace {

// A launcher that killed its ranks just before exiting may still have them
// in the kernel's exit path; this is how long they get to disappear.
constexpr absl::Duration kLeftoverGrace = absl::Milliseconds(500);


// Marked processes still alive after a grace period, which are then killed.
std::vector<std::pair<pid_t, std::string>> CollectLeftovers(const std::string& marker) {
  const absl::Time until = absl::Now() + kLeftoverGrace;
  std::vector<std::pair<pid_t, std::string>> left = testutil::ProcessesWithMarker(marker);
  while (!left.empty() && absl::Now() < until) {
    absl::SleepFor(absl::Milliseconds(20));
    left = testutil::ProcessesWithMarker(marker);
  }
  testutil::KillProcesses(left);
  return left;
}

}  // namespace

std::string ModeName(PmiMode mode) { return mode == PmiMode::kFd ? "fd" : "port"; }

void PrintTo(PmiMode mode, std::ostream* os) { *os << ModeName(mode); }

absl::StatusOr<std::string> BridgePath() { return testutil::Runfile("bridge/cli/pmi-bridge"); }

std::string ProgramPath(absl::string_view name) {
  std::string path = name == "pmi_raw_client" ? "test/programs/pmi_raw_client"
                                              : absl::StrCat("test/programs/bin/", name);
  absl::StatusOr<std::string> full = testutil::Runfile(path);
  // A missing program is a BUILD mistake; the launch will then report it.
  return full.ok() ? *full : path;
}

absl::StatusOr<LaunchOutcome> RunLaunch(const LaunchSpec& spec) {
  absl::StatusOr<std::string> bridge = BridgePath();
  if (!bridge.ok()) return bridge.status();
  testutil::RunOptions options;
  options.argv = {*bridge, "launch", "-n", absl::StrCat(spec.ranks)};
  if (spec.mode == PmiMode::kPort) options.argv.push_back("--pmi-port");
  options.argv.insert(options.argv.end(), spec.flags.begin(), spec.flags.end());
  options.argv.push_back("--");
  options.argv.insert(options.argv.end(), spec.command.begin(), spec.command.end());
  const std::string marker = testutil::UniqueMarkerValue();
  options.env = spec.env;
  options.env.emplace_back(testutil::kMarkerVar, marker);
  // The test itself may run under a PMI launcher; its ranks must only ever
  // see what pmi-bridge gives them.
  options.unset_env = {"PMI_FD",   "PMI_PORT",       "PMI_ID",   "PMI_RANK",
                       "PMI_SIZE", "PMIX_NAMESPACE", "PMIX_RANK"};
  options.timeout = spec.timeout;
  options.signal_after = spec.signal_after;
  options.signal = spec.signal;

  absl::StatusOr<testutil::RunResult> run = testutil::RunSubprocess(options);
  if (!run.ok()) return run.status();
  LaunchOutcome outcome;
  outcome.run = *std::move(run);
  outcome.leftovers = CollectLeftovers(marker);
  return outcome;
}

std::vector<std::string> Lines(absl::string_view text) {
  std::vector<std::string> lines = absl::StrSplit(text, '\n');
  if (!lines.empty() && lines.back().empty()) lines.pop_back();
  return lines;
}

std::optional<std::string> FindRankError(absl::string_view stderr_text, int rank,
                                         absl::string_view keyword) {
  const std::string prefix = absl::StrCat("pmi-bridge: rank ", rank, ": ");
  for (const std::string& line : Lines(stderr_text)) {
    if (!absl::StartsWith(line, prefix)) continue;
    size_t at = line.find(std::string(keyword), prefix.size());
    if (at == std::string::npos) continue;
    if (line.find("; ", at + keyword.size()) == std::string::npos) continue;
    return line;
  }
  return std::nullopt;
}

std::optional<int> ReplyRc(absl::string_view recv_line) {
  // PMI-1 separates tokens with spaces, PMI-2 with ';'.
  for (absl::string_view token : absl::StrSplit(recv_line, absl::ByAnyChar(" ;"))) {
    int rc = 0;
    if (absl::ConsumePrefix(&token, "rc=") && absl::SimpleAtoi(token, &rc)) {
      return rc;
    }
  }
  return std::nullopt;
}

std::vector<std::string> Replies(absl::string_view stdout_text) {
  std::vector<std::string> replies;
  for (const std::string& line : Lines(stdout_text)) {
    absl::string_view rest = line;
    if (absl::ConsumePrefix(&rest, "recv: ")) replies.emplace_back(rest);
  }
  return replies;
}

// Open MPI names its session directory (TMPDIR/ompi.HOST.UID/pid.PID, with
// its PMIx shared-memory stores) after mpirun's pid, and in Bazel's sandbox
// every test has its own pid namespace: two tests running at once both have
// an mpirun with the same small pid and share /tmp, so one job's MPI_Init
// found the other's stores ("getting local rank failed"). Each test process
// hands its jobs a TMPDIR of its own.
std::string PrivateTmpdir() {
  static const std::string* const dir = [] {
    const char* given = std::getenv("TEST_TMPDIR");
    return new std::string(given != nullptr && *given != '\0' ? given : "/tmp");
  }();
  return *dir;
}

namespace {

// For --config=asan. libpmix 4.2.2 never frees some memory of its own:
// what PMIx_Init and PMIx_server_init allocate (in pmix_rte_init: two small
// strings; in PMIx_server_init: the server's own structures) and what its
// progress thread (a libevent loop inside libpmix; pmi-bridge does not use
// libevent) allocates while serving clients. LeakSanitizer would then fail
// pmi-bridge and pmix_probe at exit (status 23, report on stderr) for leaks
// that no caller can free. The processes these tests start get exactly
// those stacks suppressed, unwound in full (libpmix has no frame pointers:
// the fast unwinder stops at its first frame and could not tell them from a
// value the bridge forgot to release); every other leak still fails the
// test. Binaries built without ASan ignore both variables.
std::vector<std::pair<std::string, std::string>> LibpmixLeakSuppression() {
  static const std::string* const path = [] {
    const char* dir = std::getenv("TEST_TMPDIR");
    auto* file = new std::string(absl::StrCat(dir != nullptr ? dir : "/tmp", "/libpmix-lsan.supp"));
    std::ofstream(*file) << "leak:pmix_rte_init\nleak:PMIx_server_init\nleak:event_base_loop\n";
    return file;
  }();
  auto appended = [](const char* name, const std::string& options) {
    const char* given = std::getenv(name);
    return std::make_pair(std::string(name), given != nullptr && *given != '\0'
                                                 ? absl::StrCat(given, ":", options)
                                                 : options);
  };
  return {appended("ASAN_OPTIONS", "fast_unwind_on_malloc=0"),
          appended("LSAN_OPTIONS", absl::StrCat("suppressions=", *path, ":print_suppressions=0"))};
}

}  // namespace

JobOutcome RunPmixJob(std::vector<std::string> argv,
                      std::vector<std::pair<std::string, std::string>> env,
                      absl::Duration timeout) {
  testutil::RunOptions options;
  options.argv = std::move(argv);
  for (auto& entry : LibpmixLeakSuppression()) options.env.push_back(std::move(entry));
  options.env.emplace_back("TMPDIR", PrivateTmpdir());
  const std::string marker = testutil::UniqueMarkerValue();
  options.env.emplace_back(testutil::kMarkerVar, marker);
  for (auto& entry : env) options.env.push_back(std::move(entry));
  // The test may itself run under a launcher: the jobs see only their own.
  options.unset_env = {"PMI_FD",           "PMI_PORT",         "PMI_ID",
                       "PMI_RANK",         "PMI_SIZE",         "PMIX_NAMESPACE",
                       "PMIX_RANK",        "PMIX_SERVER_URI2", "PMIX_SERVER_URI21",
                       "PMIX_SERVER_URI3", "PMIX_SERVER_URI4", "PMIX_SERVER_URI41"};
  options.timeout = timeout;
  JobOutcome outcome;
  absl::StatusOr<testutil::RunResult> run = testutil::RunSubprocess(options);
  if (run.ok()) {
    outcome.run = *std::move(run);
  } else {  // the test's exit-code assertion shows this
    outcome.run.stderr_text = absl::StrCat(run.status().message(),
                                           " (are the mpich and openmpi-bin packages installed?)");
  }
  outcome.leftovers = CollectLeftovers(marker);
  return outcome;
}

}  // namespace pmi_shim::e2e
