// Shared pieces of the `pmi-bridge exec` end-to-end tests; see exec_util.h.
#include "test/e2e/exec_util.h"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <set>
#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "test/testing/processes.h"

namespace pmi_shim::e2e {
namespace {

// A launcher that killed its ranks just before exiting may still have them
// in the kernel's exit path; this is how long they get to disappear.
constexpr absl::Duration kLeftoverGrace = absl::Milliseconds(500);
// How often a fault run looks at the processes it follows.
constexpr absl::Duration kPollInterval = absl::Milliseconds(5);
// After the launcher exited: how long bridges that are still running are
// followed before they count as having outlived it.
constexpr absl::Duration kBridgeFollow = absl::Seconds(3);

std::vector<std::string> SplitNul(const std::string& text) {
  std::vector<std::string> parts;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t nul = text.find('\0', pos);
    if (nul == std::string::npos) nul = text.size();
    parts.push_back(text.substr(pos, nul - pos));
    pos = nul + 1;
  }
  return parts;
}

bool IsZombieStat(const std::string& stat) {
  size_t paren = stat.rfind(')');
  return paren != std::string::npos && paren + 2 < stat.size() && stat[paren + 2] == 'Z';
}

std::vector<std::pair<pid_t, std::string>> AsPairs(const std::vector<ProcessInfo>& procs) {
  std::vector<std::pair<pid_t, std::string>> out;
  for (const ProcessInfo& p : procs) out.emplace_back(p.pid, p.CommandLine());
  return out;
}

// Waits up to kLeftoverGrace for marked processes to go, then kills the rest.
std::vector<std::pair<pid_t, std::string>> CollectLeftovers(const std::string& marker) {
  absl::Time until = absl::Now() + kLeftoverGrace;
  std::vector<ProcessInfo> left = MarkedProcesses(marker);
  while (!left.empty() && absl::Now() < until) {
    absl::SleepFor(absl::Milliseconds(20));
    left = MarkedProcesses(marker);
  }
  std::vector<std::pair<pid_t, std::string>> pairs = AsPairs(left);
  testutil::KillProcesses(pairs);
  // Let them die (and reap those this process adopted as a subreaper), so
  // that the next test starts clean.
  until = absl::Now() + absl::Seconds(1);
  for (const auto& [pid, cmdline] : pairs) {
    while (absl::Now() < until) {
      waitpid(pid, nullptr, WNOHANG);
      if (!IsRunning(pid)) break;
      absl::SleepFor(absl::Milliseconds(10));
    }
  }
  return pairs;
}

testutil::RunOptions OptionsFor(const HydraSpec& spec, const std::string& marker) {
  testutil::RunOptions options;
  options.argv = HydraArgv(spec);
  options.env = spec.env;
  options.env.emplace_back(testutil::kMarkerVar, marker);
  options.env.emplace_back(kExecMarkerVar, marker);
  // The test itself may run under a PMI launcher; hydra must start clean.
  options.unset_env = {"PMI_FD",   "PMI_PORT",       "PMI_ID",   "PMI_RANK",
                       "PMI_SIZE", "PMIX_NAMESPACE", "PMIX_RANK"};
  options.timeout = spec.timeout;
  return options;
}

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

std::string ProcessInfo::CommandLine() const { return absl::StrJoin(argv, " "); }

std::optional<int> ProcessInfo::Rank() const {
  for (const char* name : {"PMI_RANK", "PMI_ID"}) {
    auto it = env.find(name);
    int rank = 0;
    if (it != env.end() && absl::SimpleAtoi(it->second, &rank)) return rank;
  }
  return std::nullopt;
}

bool ProcessInfo::Runs(absl::string_view path) const {
  if (argv.empty()) return false;
  return argv[0] == path || absl::EndsWith(argv[0], absl::StrCat("/", path));
}

std::vector<ProcessInfo> MarkedProcesses(absl::string_view marker) {
  const std::string wanted[] = {absl::StrCat(kExecMarkerVar, "=", marker),
                                absl::StrCat(testutil::kMarkerVar, "=", marker)};
  std::vector<ProcessInfo> found;
  DIR* dir = opendir("/proc");
  if (dir == nullptr) return found;
  while (dirent* entry = readdir(dir)) {
    char* end = nullptr;
    long pid = strtol(entry->d_name, &end, 10);
    if (*end != '\0' || pid <= 0 || pid == getpid()) continue;
    const std::string base = absl::StrCat("/proc/", pid);
    std::vector<std::string> environ_entries = SplitNul(ReadWholeFile(base + "/environ"));
    bool marked = false;
    for (const std::string& e : environ_entries) marked |= e == wanted[0] || e == wanted[1];
    if (!marked || IsZombieStat(ReadWholeFile(base + "/stat"))) continue;
    ProcessInfo info;
    info.pid = static_cast<pid_t>(pid);
    info.argv = SplitNul(ReadWholeFile(base + "/cmdline"));
    for (const std::string& e : environ_entries) {
      size_t eq = e.find('=');
      if (eq != std::string::npos) info.env.emplace(e.substr(0, eq), e.substr(eq + 1));
    }
    found.push_back(std::move(info));
  }
  closedir(dir);
  return found;
}

bool IsRunning(pid_t pid) {
  std::string stat = ReadWholeFile(absl::StrCat("/proc/", pid, "/stat"));
  return !stat.empty() && !IsZombieStat(stat);
}

// read(2), not std::ifstream: reading /proc of a process that exits
// meanwhile fails with ESRCH, which an ifstream throws (and a throw here,
// with the launcher thread still running, would terminate the test).
std::string ReadWholeFile(const std::string& path) {
  std::string data;
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return data;
  char buffer[4096];
  ssize_t n;
  while ((n = ::read(fd, buffer, sizeof(buffer))) > 0) data.append(buffer, static_cast<size_t>(n));
  ::close(fd);
  return data;
}

std::vector<std::string> HydraArgv(const HydraSpec& spec) {
  std::vector<std::string> argv = {"mpiexec.hydra"};
  if (spec.mode == PmiMode::kPort) argv.push_back("-pmi-port");
  argv.insert(argv.end(), {"-n", absl::StrCat(spec.ranks)});
  // ${PMI_RANK:-$PMI_ID}: hydra gives PMI_RANK with PMI_FD, only PMI_ID in
  // port mode; pmi-bridge gives its command PMI_RANK in both.
  const std::string rank = "${PMI_RANK:-$PMI_ID}";
  if (spec.bridge) {
    absl::StatusOr<std::string> bridge = BridgePath();
    if (!spec.output_dir.empty()) {
      argv.insert(argv.end(), {"sh", "-c",
                               absl::StrCat("exec \"$0\" \"$@\" 2>\"", spec.output_dir, "/bridge.",
                                            rank, ".err\"")});
    }
    argv.push_back(bridge.ok() ? *bridge : "bridge/cli/pmi-bridge");
    argv.push_back("exec");
    argv.insert(argv.end(), spec.bridge_flags.begin(), spec.bridge_flags.end());
    argv.push_back("--");
  }
  if (!spec.output_dir.empty()) {
    argv.insert(argv.end(), {"sh", "-c",
                             absl::StrCat("exec \"$0\" \"$@\" >\"", spec.output_dir, "/client.",
                                          rank, ".out\"")});
  }
  argv.insert(argv.end(), spec.command.begin(), spec.command.end());
  return argv;
}

absl::StatusOr<HydraOutcome> RunHydra(const HydraSpec& spec) {
  if (spec.bridge) {
    absl::StatusOr<std::string> bridge = BridgePath();
    if (!bridge.ok()) return bridge.status();
  }
  const std::string marker = testutil::UniqueMarkerValue();
  absl::StatusOr<testutil::RunResult> run = testutil::RunSubprocess(OptionsFor(spec, marker));
  if (!run.ok()) return run.status();
  HydraOutcome outcome;
  outcome.run = *std::move(run);
  outcome.leftovers = CollectLeftovers(marker);
  return outcome;
}

void MakeThisProcessASubreaper() { prctl(PR_SET_CHILD_SUBREAPER, 1); }

std::string FaultOutcome::Describe() const {
  std::string text = run.Describe();
  absl::StrAppend(&text, "\nreached the fault phase: ", became_ready ? "yes" : "NO");
  for (const ProcessInfo& p : killed) {
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
  for (const auto& [pid, cmdline] : leftovers) {
    absl::StrAppend(&text, "\nleft behind: pid ", pid, ": ", cmdline);
  }
  return text;
}

absl::StatusOr<FaultOutcome> RunHydraWithFault(const FaultSpec& spec) {
  absl::StatusOr<std::string> bridge_path = BridgePath();
  if (!bridge_path.ok()) return bridge_path.status();
  const std::string marker = testutil::UniqueMarkerValue();
  const testutil::RunOptions options = OptionsFor(spec.job, marker);

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
  std::vector<ProcessInfo> procs;
  while (!done && absl::Now() < give_up) {
    procs = MarkedProcesses(marker);
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
    procs = MarkedProcesses(marker);
    for (const ProcessInfo& p : procs) {
      if (!p.Runs(*bridge_path)) continue;
      BridgeEnd end;
      end.pid = p.pid;
      end.rank = p.Rank().value_or(-1);
      outcome.bridges.push_back(end);
    }
    for (const ProcessInfo& p : procs) {
      if (spec.victim(p)) outcome.killed.push_back(p);
      if (p.Runs("mpiexec.hydra")) launcher_pid = p.pid;
    }
    if (static_cast<int>(outcome.killed.size()) == spec.victims) {
      for (const ProcessInfo& p : outcome.killed) kill(p.pid, SIGKILL);
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
      } else if (!IsRunning(b.pid)) {
        b.after_kill = absl::Now() - *killed_at;
      } else {
        all_gone = false;
      }
    }
    // Exact to the poll interval (the thread's own end includes draining
    // the launcher's output).
    if (launcher_pid && !outcome.launcher_after_kill && !IsRunning(*launcher_pid)) {
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
  outcome.leftovers = CollectLeftovers(marker);
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

std::vector<std::string> LinesStartingWith(absl::string_view text, absl::string_view prefix) {
  std::vector<std::string> out;
  for (const std::string& line : Lines(text)) {
    if (absl::StartsWith(line, prefix)) out.push_back(line);
  }
  return out;
}

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
      R"(echo ")", label,
      R"( rank=${PMI_RANK:-$PMI_ID} ppid=$PPID fd=$PMI_FD sock=$s socks=$socks peer=$o"; )"
      R"(exec "$0" "$@")");
  std::vector<std::string> argv = {"sh", "-c", script};
  argv.insert(argv.end(), command.begin(), command.end());
  return argv;
}

void ExpectPmiFdThroughTheBridge(absl::string_view output, int ranks) {
  const std::vector<std::string> hosts = LinesStartingWith(output, "host ");
  const std::vector<std::string> children = LinesStartingWith(output, "child ");
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
    EXPECT_THAT(Word(child, "peer"),
                ::testing::HasSubstr(absl::StrCat("(\"pmi-bridge\",pid=", Word(child, "ppid"), ",")))
        << "the other end of the program's PMI_FD is not its bridge's";
  }
  EXPECT_EQ(seen_ranks.size(), static_cast<size_t>(ranks));
}

}  // namespace pmi_shim::e2e
