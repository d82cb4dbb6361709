// Finding processes a test left behind; see processes.h.
#include "test/testing/processes.h"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <iterator>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"

namespace pmi_shim::testutil {
namespace {

// Reads a /proc file with read(2): a process that exits meanwhile makes the
// read fail (ESRCH), which std::ifstream turns into an exception; here it is
// just an empty or shorter string, as the process is gone anyway.
std::string ReadWhole(const std::string& path) {
  std::string data;
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return data;
  char buffer[4096];
  ssize_t n;
  while ((n = ::read(fd, buffer, sizeof(buffer))) > 0) data.append(buffer, static_cast<size_t>(n));
  ::close(fd);
  return data;
}

// Zombies keep their /proc entry but have exited: they are the parent's
// business, not a leftover rank. State is the field after "(comm)".
bool IsZombie(const std::string& stat) {
  size_t paren = stat.rfind(')');
  return paren != std::string::npos && paren + 2 < stat.size() && stat[paren + 2] == 'Z';
}

}  // namespace

std::string UniqueMarkerValue() {
  static std::atomic<int> counter{0};
  auto now = std::chrono::steady_clock::now().time_since_epoch();
  return absl::StrCat(getpid(), "-", now.count(), "-", counter++);
}

std::vector<std::pair<pid_t, std::string>> ProcessesWithMarker(absl::string_view value) {
  const std::string needle = absl::StrCat(kMarkerVar, "=", value);
  std::vector<std::pair<pid_t, std::string>> found;
  DIR* dir = opendir("/proc");
  if (dir == nullptr) return found;
  while (dirent* entry = readdir(dir)) {
    char* end = nullptr;
    long pid = strtol(entry->d_name, &end, 10);
    if (*end != '\0' || pid <= 0 || pid == getpid()) continue;
    std::string base = absl::StrCat("/proc/", pid);
    std::string environ_text = ReadWhole(base + "/environ");
    // Entries are NUL-separated; match whole entries only.
    bool match = false;
    for (size_t pos = 0; pos < environ_text.size();) {
      size_t nul = environ_text.find('\0', pos);
      if (nul == std::string::npos) nul = environ_text.size();
      if (absl::string_view(environ_text).substr(pos, nul - pos) == needle) {
        match = true;
        break;
      }
      pos = nul + 1;
    }
    if (!match || IsZombie(ReadWhole(base + "/stat"))) continue;
    std::string cmdline = ReadWhole(base + "/cmdline");
    absl::StrReplaceAll({{absl::string_view("\0", 1), " "}}, &cmdline);
    found.emplace_back(static_cast<pid_t>(pid), cmdline);
  }
  closedir(dir);
  return found;
}

void KillProcesses(const std::vector<std::pair<pid_t, std::string>>& procs) {
  for (const auto& [pid, cmdline] : procs) kill(pid, SIGKILL);
}

}  // namespace pmi_shim::testutil
