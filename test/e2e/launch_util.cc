// Shared pieces of the `pmi-bridge launch` end-to-end tests; see launch_util.h.
#include "test/e2e/launch_util.h"

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "test/testing/processes.h"
#include "test/testing/runfiles.h"

namespace pmi_shim::e2e {
namespace {

// A launcher that killed its ranks just before exiting may still have them
// in the kernel's exit path; this is how long they get to disappear.
constexpr absl::Duration kLeftoverGrace = absl::Milliseconds(500);

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
  absl::Time until = absl::Now() + kLeftoverGrace;
  outcome.leftovers = testutil::ProcessesWithMarker(marker);
  while (!outcome.leftovers.empty() && absl::Now() < until) {
    absl::SleepFor(absl::Milliseconds(20));
    outcome.leftovers = testutil::ProcessesWithMarker(marker);
  }
  testutil::KillProcesses(outcome.leftovers);
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

}  // namespace pmi_shim::e2e
