// Fault injection around `pmi-bridge exec`; see exec_util.h.
#include "test/e2e/exec_util.h"

#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>

#include <atomic>
#include <set>
#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "test/testing/rank_lines.h"

namespace pmi_shim::e2e {
namespace {

// How often a fault run looks at the processes it follows.
constexpr absl::Duration kPollInterval = absl::Milliseconds(5);
// After the launcher exited: how long bridges that are still running are
// followed before they count as having outlived it.
constexpr absl::Duration kBridgeFollow = absl::Seconds(3);

// Reaps every child that has exited (orphans adopted as a subreaper).
void ReapExitedChildren() {
  while (waitpid(-1, nullptr, WNOHANG) > 0) {
  }
}

std::string DescribeWaitStatus(int status) {
  if (WIFEXITED(status)) return absl::StrCat("exit ", WEXITSTATUS(status));
  if (WIFSIGNALED(status)) return absl::StrCat("signal ", WTERMSIG(status));
  return absl::StrCat("status ", status);
}

}  // namespace

std::vector<std::string> RankCommand(const RankWiring& wiring,
                                     const std::vector<std::string>& command) {
  std::vector<std::string> argv;
  // ${PMI_RANK:-$PMI_ID}: hydra gives PMI_RANK with PMI_FD, only PMI_ID in
  // port mode; pmi-bridge gives its command PMI_RANK in both.
  const std::string rank = "${PMI_RANK:-$PMI_ID}";
  if (wiring.bridge) {
    if (!wiring.output_dir.empty()) {
      argv.insert(argv.end(), {"sh", "-c",
                               absl::StrCat("exec \"$0\" \"$@\" 2>\"", wiring.output_dir,
                                            "/bridge.", rank, ".err\"")});
    }
    argv.push_back(testutil::BridgePath());
    argv.push_back("exec");
    argv.insert(argv.end(), wiring.bridge_flags.begin(), wiring.bridge_flags.end());
    argv.push_back("--");
  }
  if (!wiring.output_dir.empty()) {
    argv.insert(argv.end(), {"sh", "-c",
                             absl::StrCat("exec \"$0\" \"$@\" >\"", wiring.output_dir, "/client.",
                                          rank, ".out\"")});
  }
  argv.insert(argv.end(), command.begin(), command.end());
  return argv;
}

void MakeThisProcessASubreaper() { prctl(PR_SET_CHILD_SUBREAPER, 1); }

std::string FaultOutcome::Describe() const {
  std::string text = JobResult::Describe();
  absl::StrAppend(&text, "\nreached the fault phase: ", became_ready ? "yes" : "NO");
  for (const testutil::ProcessInfo& p : killed) {
    absl::StrAppend(&text, "\nkilled pid ", p.pid, " (rank ",
                    p.Rank().has_value() ? absl::StrCat(*p.Rank()) : "?", "): ", p.CommandLine());
  }
  absl::StrAppend(&text, "\nlauncher exit after the kill: ",
                  launcher_after_kill ? absl::FormatDuration(*launcher_after_kill) : "-");
  for (const BridgeEnd& b : bridges) {
    absl::StrAppend(&text, "\nbridge rank ", b.rank, " pid ", b.pid, ": ",
                    b.after_kill ? absl::StrCat("gone after ", absl::FormatDuration(*b.after_kill))
                                 : "still running",
                    b.wait_status ? absl::StrCat(", ", DescribeWaitStatus(*b.wait_status)) : "");
  }
  return text;
}

absl::StatusOr<FaultOutcome> RunHydraWithFault(const FaultSpec& spec) {
  const std::string bridge_path = testutil::BridgePath();
  const std::string marker = testutil::UniqueMarkerValue();
  absl::StatusOr<testutil::RunOptions> job_options = testutil::JobRunOptions(spec.job, marker);
  if (!job_options.ok()) return job_options.status();
  const testutil::RunOptions options = *std::move(job_options);

  // The launcher runs in a thread; this one watches and kills.
  absl::StatusOr<testutil::RunResult> run = absl::UnknownError("not run");
  absl::Time started;
  std::atomic<bool> done{false};
  std::thread launcher([&] {
    started = absl::Now();
    run = testutil::RunSubprocess(options);
    done = true;
  });

  FaultOutcome outcome;
  const absl::Time give_up = absl::Now() + spec.job.timeout;
  std::vector<testutil::ProcessInfo> procs;
  while (!done && absl::Now() < give_up) {
    procs = testutil::ProcessesWithMarker(marker);
    if (spec.ready(procs)) {
      outcome.became_ready = true;
      break;
    }
    absl::SleepFor(kPollInterval);
  }
  std::optional<absl::Time> killed_at;
  std::optional<pid_t> launcher_pid;
  if (outcome.became_ready) {
    absl::SleepFor(spec.settle);
    procs = testutil::ProcessesWithMarker(marker);
    for (const testutil::ProcessInfo& p : procs) {
      if (!p.Runs(bridge_path)) continue;
      BridgeEnd end;
      end.pid = p.pid;
      end.rank = p.Rank().value_or(-1);
      outcome.bridges.push_back(end);
    }
    for (const testutil::ProcessInfo& p : procs) {
      if (spec.victim(p)) outcome.killed.push_back(p);
      if (p.Runs("mpiexec.hydra")) launcher_pid = p.pid;
    }
    if (static_cast<int>(outcome.killed.size()) == spec.victims) {
      for (const testutil::ProcessInfo& p : outcome.killed) kill(p.pid, SIGKILL);
      killed_at = absl::Now();
    }
  }

  // Follow the bridges until each is gone (or well after the launcher).
  std::optional<absl::Time> launcher_done_at;
  while (killed_at.has_value()) {
    bool all_gone = true;
    for (BridgeEnd& b : outcome.bridges) {
      if (b.after_kill.has_value()) continue;
      int status = 0;
      if (waitpid(b.pid, &status, WNOHANG) == b.pid) {
        b.wait_status = status;
        b.after_kill = absl::Now() - *killed_at;
      } else if (!testutil::IsRunning(b.pid)) {
        b.after_kill = absl::Now() - *killed_at;
      } else {
        all_gone = false;
      }
    }
    // Exact to the poll interval (the thread's own end includes draining
    // the launcher's output).
    if (launcher_pid && !outcome.launcher_after_kill && !testutil::IsRunning(*launcher_pid)) {
      outcome.launcher_after_kill = absl::Now() - *killed_at;
    }
    if (done && !launcher_done_at) launcher_done_at = absl::Now();
    if (all_gone && done) break;
    if (launcher_done_at && absl::Now() - *launcher_done_at > kBridgeFollow) break;
    absl::SleepFor(kPollInterval);
  }
  launcher.join();
  if (!run.ok()) return run.status();
  outcome.run = *std::move(run);
  if (killed_at.has_value() && !outcome.launcher_after_kill.has_value()) {
    outcome.launcher_after_kill = (started + outcome.run.wall) - *killed_at;
  }
  outcome.leftovers = testutil::CollectLeftovers(marker);
  ReapExitedChildren();
  return outcome;
}

std::string Word(absl::string_view line, absl::string_view name) {
  for (absl::string_view word : absl::StrSplit(line, ' ')) {
    if (absl::ConsumePrefix(&word, name) && absl::ConsumePrefix(&word, "=")) {
      return std::string(word);
    }
  }
  return "";
}

int UriPort(absl::string_view uri) {
  int port = -1;
  const size_t colon = uri.rfind(':');
  if (colon == absl::string_view::npos || !absl::SimpleAtoi(uri.substr(colon + 1), &port)) {
    return -1;
  }
  return port;
}

std::string UriServer(absl::string_view uri) { return std::string(uri.substr(0, uri.find(';'))); }

std::vector<std::string> PrintingPmiFd(absl::string_view label,
                                       const std::vector<std::string>& command) {
  // ss -Hxp: "u_str ESTAB 0 0 * INODE * PEER_INODE users:((...))"; the
  // line whose own inode is our socket's peer names who holds that end.
  const std::string script = absl::StrCat(
      R"(s=$(readlink /proc/$$/fd/$PMI_FD | tr -dc 0-9); )"
      R"(socks=$(ls -l /proc/$$/fd | grep -o 'socket:\[[0-9]*\]' | tr -dc '0-9\n' | sort | )"
      R"(tr '\n' ,); )"
      R"(p=$(ss -Hxp | awk -v s="$s" '$6 == s { print $8 }'); )"
      R"(o=$(ss -Hxp | awk -v p="$p" '$6 == p { print $9 }'); )"
      R"(echo ")",
      label,
      R"( rank=${PMI_RANK:-$PMI_ID} ppid=$PPID fd=$PMI_FD sock=$s socks=$socks peer=$o"; )"
      R"(exec "$0" "$@")");
  std::vector<std::string> argv = {"sh", "-c", script};
  argv.insert(argv.end(), command.begin(), command.end());
  return argv;
}

void ExpectPmiFdThroughTheBridge(absl::string_view output, int ranks) {
  const std::vector<std::string> hosts = testutil::LinesStartingWith(output, "host ");
  const std::vector<std::string> children = testutil::LinesStartingWith(output, "child ");
  ASSERT_EQ(hosts.size(), static_cast<size_t>(ranks)) << output;
  ASSERT_EQ(children.size(), static_cast<size_t>(ranks)) << output;
  std::set<std::string> launcher_sockets;
  for (const std::string& host : hosts) {
    EXPECT_NE(Word(host, "sock"), "") << "no PMI_FD socket from the launcher: " << host;
    launcher_sockets.insert(Word(host, "sock"));
  }
  std::set<int> seen_ranks;
  for (const std::string& child : children) {
    SCOPED_TRACE(child);
    int rank = -1;
    EXPECT_TRUE(absl::SimpleAtoi(Word(child, "rank"), &rank));
    seen_ranks.insert(rank);
    const std::string sock = Word(child, "sock");
    ASSERT_NE(sock, "") << "the program got no PMI_FD socket";
    EXPECT_EQ(launcher_sockets.count(sock), 0u) << "the program talks to the launcher directly";
    for (absl::string_view held : absl::StrSplit(Word(child, "socks"), ',', absl::SkipEmpty())) {
      EXPECT_EQ(launcher_sockets.count(std::string(held)), 0u)
          << "the program holds the launcher's socket " << held;
    }
    EXPECT_THAT(Word(child, "peer"), ::testing::HasSubstr(absl::StrCat(
                                         "(\"pmi-bridge\",pid=", Word(child, "ppid"), ",")))
        << "the other end of the program's PMI_FD is not its bridge's";
  }
  EXPECT_EQ(seen_ranks.size(), static_cast<size_t>(ranks));
}

std::string WithoutLinesStartingWith(absl::string_view output,
                                     const std::vector<std::string>& prefixes) {
  std::string kept;
  for (const std::string& line : testutil::Lines(output)) {
    bool proof = false;
    for (const std::string& prefix : prefixes) proof |= absl::StartsWith(line, prefix);
    if (!proof) absl::StrAppend(&kept, line, "\n");
  }
  return kept;
}

}  // namespace pmi_shim::e2e
