// Finding the processes a test started and left behind; see processes.h.
#include "test/testing/processes.h"

#include <dirent.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdlib>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "test/testing/files.h"

namespace pmi_shim::testutil {
namespace {

// /proc/PID/{environ,cmdline} hold NUL-terminated entries.
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

// Zombies keep their /proc entry but have exited: they are their parent's
// business, not a leftover. The state is the field after "(comm)"; a stat
// that cannot be read is a process that is gone.
bool IsZombieOrGone(const std::string& stat) {
  const size_t paren = stat.rfind(')');
  if (paren == std::string::npos || paren + 2 >= stat.size()) return true;
  const char state = stat[paren + 2];
  return state == 'Z' || state == 'X';
}

// Every live process but this one whose raw environment passes
// `environ_filter` and whose parsed entry then passes `keep`.
std::vector<ProcessInfo> ScanProcesses(
    const std::function<bool(const std::string&)>& environ_filter,
    const std::function<bool(const ProcessInfo&)>& keep) {
  std::vector<ProcessInfo> found;
  DIR* dir = opendir("/proc");
  if (dir == nullptr) return found;
  const pid_t self = getpid();
  while (dirent* entry = readdir(dir)) {
    int pid = 0;
    if (!absl::SimpleAtoi(entry->d_name, &pid) || pid <= 0 || pid == self) continue;
    const std::string base = absl::StrCat("/proc/", pid);
    const std::string environ_text = ReadFile(base + "/environ");
    if (!environ_filter(environ_text)) continue;
    ProcessInfo info;
    info.pid = pid;
    info.argv = SplitNul(ReadFile(base + "/cmdline"));
    for (const std::string& variable : SplitNul(environ_text)) {
      const size_t eq = variable.find('=');
      if (eq != std::string::npos) {
        info.env.emplace(variable.substr(0, eq), variable.substr(eq + 1));
      }
    }
    if (!keep(info) || IsZombieOrGone(ReadFile(base + "/stat"))) continue;
    found.push_back(std::move(info));
  }
  closedir(dir);
  return found;
}

}  // namespace

std::string UniqueMarkerValue() {
  static std::atomic<int> counter{0};
  auto now = std::chrono::steady_clock::now().time_since_epoch();
  return absl::StrCat(getpid(), "-", now.count(), "-", counter++);
}

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

void PrintTo(const ProcessInfo& process, std::ostream* os) {
  *os << "pid " << process.pid << ": " << process.CommandLine();
}

std::vector<ProcessInfo> LiveProcesses(const std::function<bool(const ProcessInfo&)>& keep) {
  return ScanProcesses([](const std::string&) { return true; }, keep);
}

std::vector<ProcessInfo> ProcessesWithMarker(absl::string_view marker) {
  const std::string entry = absl::StrCat(kMarkerVar, "=", marker);
  // The fault injector polls this every few milliseconds: look at the raw
  // environment first, and parse only the processes that carry the marker.
  auto carries_marker = [&entry](const std::string& environ_text) {
    for (size_t at = environ_text.find(entry); at != std::string::npos;
         at = environ_text.find(entry, at + 1)) {
      const size_t end = at + entry.size();
      if ((at == 0 || environ_text[at - 1] == '\0') &&
          (end == environ_text.size() || environ_text[end] == '\0')) {
        return true;
      }
    }
    return false;
  };
  return ScanProcesses(carries_marker, [](const ProcessInfo&) { return true; });
}

std::vector<ProcessInfo> ProcessesWithCmdline(absl::string_view needle) {
  return LiveProcesses(
      [needle](const ProcessInfo& p) { return absl::StrContains(p.CommandLine(), needle); });
}

bool IsRunning(pid_t pid) {
  return !IsZombieOrGone(ReadFile(absl::StrCat("/proc/", pid, "/stat")));
}

void KillProcesses(const std::vector<ProcessInfo>& processes) {
  for (const ProcessInfo& p : processes) kill(p.pid, SIGKILL);
}

std::vector<ProcessInfo> CollectLeftovers(absl::string_view marker, absl::Duration grace) {
  absl::Time until = absl::Now() + grace;
  std::vector<ProcessInfo> left = ProcessesWithMarker(marker);
  while (!left.empty() && absl::Now() < until) {
    absl::SleepFor(absl::Milliseconds(20));
    left = ProcessesWithMarker(marker);
  }
  KillProcesses(left);
  // Let them die, and reap those this process adopted as a subreaper.
  until = absl::Now() + absl::Seconds(1);
  for (const ProcessInfo& p : left) {
    while (absl::Now() < until) {
      waitpid(p.pid, nullptr, WNOHANG);
      if (!IsRunning(p.pid)) break;
      absl::SleepFor(absl::Milliseconds(10));
    }
  }
  return left;
}

}  // namespace pmi_shim::testutil
