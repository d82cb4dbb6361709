// Leftover detection and scratch directories; see leftovers.h.
#include "test/containers/leftovers.h"

#include <stdlib.h>
#include <sys/mount.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <filesystem>
#include <system_error>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "test/testing/files.h"
#include "test/testing/processes.h"
#include "test/testing/subprocess.h"

namespace pmi_shim::containers {
namespace {

namespace fs = std::filesystem;

bool AtOrUnder(const std::string& path, const std::string& prefix) {
  std::string p = std::string(absl::StripSuffix(prefix, "/"));
  return path == p || absl::StartsWith(path, p + "/");
}

// mountinfo escapes space, tab, newline and backslash as \ooo.
std::string DecodeOctal(absl::string_view s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\\' && i + 3 < s.size()) {
      int v = 0;
      bool ok = true;
      for (size_t k = 1; k <= 3; ++k) {
        char c = s[i + k];
        if (c < '0' || c > '7') ok = false;
        v = v * 8 + (c - '0');
      }
      if (ok) {
        out.push_back(static_cast<char>(v));
        i += 3;
        continue;
      }
    }
    out.push_back(s[i]);
  }
  return out;
}

}  // namespace

std::vector<std::string> MountPointsUnder(const std::string& mountinfo, const std::string& prefix) {
  std::vector<std::string> out;
  for (absl::string_view line : absl::StrSplit(mountinfo, '\n', absl::SkipEmpty())) {
    std::vector<absl::string_view> fields = absl::StrSplit(line, ' ');
    if (fields.size() < 5) continue;
    std::string point = DecodeOctal(fields[4]);
    if (AtOrUnder(point, prefix)) out.push_back(point);
  }
  return out;
}

std::vector<std::string> UnixSocketsUnder(const std::string& proc_net_unix,
                                          const std::string& prefix) {
  std::vector<std::string> out;
  bool header = true;
  for (absl::string_view line : absl::StrSplit(proc_net_unix, '\n', absl::SkipEmpty())) {
    if (header) {
      header = false;
      continue;
    }
    // Num RefCount Protocol Flags Type St Inode [Path]
    std::vector<absl::string_view> fields = absl::StrSplit(line, ' ', absl::SkipEmpty());
    if (fields.size() < 8) continue;
    std::string path(fields[7]);
    if (AtOrUnder(path, prefix)) out.push_back(path);
  }
  return out;
}

std::string DescribeLeftovers(const LeftoverScope& scope) {
  std::vector<std::string> parts;
  std::string mountinfo = testutil::ReadFile("/proc/self/mountinfo");
  std::vector<std::string> mounts;
  for (const std::string& prefix : scope.mount_prefixes) {
    for (std::string& m : MountPointsUnder(mountinfo, prefix)) mounts.push_back(std::move(m));
  }
  if (!mounts.empty()) parts.push_back(absl::StrCat("mounts: ", absl::StrJoin(mounts, " ")));

  std::string unix_table = testutil::ReadFile("/proc/net/unix");
  std::vector<std::string> sockets;
  for (const std::string& prefix : scope.socket_prefixes) {
    for (std::string& s : UnixSocketsUnder(unix_table, prefix)) sockets.push_back(std::move(s));
  }
  if (!sockets.empty()) parts.push_back(absl::StrCat("sockets: ", absl::StrJoin(sockets, " ")));

  std::vector<std::string> files;
  std::error_code ec;
  for (const std::string& path : scope.absent_paths) {
    if (fs::exists(fs::symlink_status(path, ec))) files.push_back(path);
  }
  for (const std::string& dir : scope.empty_dirs) {
    for (auto it = fs::directory_iterator(dir, ec); !ec && it != fs::directory_iterator();
         it.increment(ec)) {
      files.push_back(it->path().string());
    }
    ec.clear();
  }
  if (!files.empty()) parts.push_back(absl::StrCat("files: ", absl::StrJoin(files, " ")));

  std::vector<std::string> procs;
  auto add_procs = [&](const std::vector<testutil::ProcessInfo>& found) {
    for (const testutil::ProcessInfo& p : found) {
      std::string entry = absl::StrCat(p.pid, " ", p.CommandLine().substr(0, 120));
      if (std::find(procs.begin(), procs.end(), entry) == procs.end()) procs.push_back(entry);
    }
  };
  if (!scope.marker.empty()) add_procs(testutil::ProcessesWithMarker(scope.marker));
  for (const std::string& needle : scope.cmdline_substrings) {
    add_procs(testutil::ProcessesWithCmdline(needle));
  }
  if (!procs.empty()) parts.push_back(absl::StrCat("processes: ", absl::StrJoin(procs, " | ")));

  for (const std::vector<std::string>& command : scope.container_lists) {
    absl::StatusOr<testutil::RunResult> r = testutil::RunSubprocess(command, {}, absl::Seconds(30));
    if (!r.ok()) {
      parts.push_back(
          absl::StrCat("cannot list containers (", command[0], "): ", r.status().ToString()));
      continue;
    }
    std::string listed(absl::StripAsciiWhitespace(r->stdout_text));
    if (r->exit_code != 0) {
      parts.push_back(absl::StrCat("cannot list containers (", absl::StrJoin(command, " "),
                                   "): ", r->StatusText(), " ",
                                   absl::StripAsciiWhitespace(r->stderr_text)));
    } else if (!listed.empty()) {
      parts.push_back(absl::StrCat("containers(", command[0],
                                   "): ", absl::StrJoin(absl::StrSplit(listed, '\n'), " ")));
    }
  }
  return absl::StrJoin(parts, "; ");
}

std::vector<std::string> UnmountAllUnder(const std::string& prefix) {
  std::vector<std::string> failed;
  // Several rounds: a detach can reveal a mount stacked underneath.
  for (int round = 0; round < 8; ++round) {
    std::vector<std::string> mounts =
        MountPointsUnder(testutil::ReadFile("/proc/self/mountinfo"), prefix);
    if (mounts.empty()) return {};
    std::sort(mounts.begin(), mounts.end(),
              [](const std::string& a, const std::string& b) { return a.size() > b.size(); });
    failed.clear();
    for (const std::string& m : mounts) {
      if (umount2(m.c_str(), MNT_DETACH) != 0 && errno != EINVAL && errno != ENOENT) {
        failed.push_back(m);
      }
    }
  }
  return MountPointsUnder(testutil::ReadFile("/proc/self/mountinfo"), prefix);
}

absl::StatusOr<ScratchDir> ScratchDir::Create(const std::string& prefix) {
  std::string templ = absl::StrCat("/tmp/", prefix, ".XXXXXX");
  if (mkdtemp(templ.data()) == nullptr) {
    return absl::ErrnoToStatus(errno, absl::StrCat("mkdtemp ", templ));
  }
  return ScratchDir(templ);
}

std::string ScratchDir::Remove() {
  if (path_.empty()) return "";
  std::vector<std::string> stuck = UnmountAllUnder(path_);
  if (!stuck.empty()) {
    // Never rm -rf through a mount: it would delete the host's files.
    std::string why = absl::StrCat("still mounted: ", absl::StrJoin(stuck, " "));
    path_.clear();
    return why;
  }
  std::error_code ec;
  fs::remove_all(path_, ec);
  std::string why = ec ? absl::StrCat("rm -rf ", path_, ": ", ec.message()) : "";
  path_.clear();
  return why;
}

std::string DescribeLeftoversAfter(const LeftoverScope& scope, absl::Duration grace) {
  const absl::Time deadline = absl::Now() + grace;
  std::string left = DescribeLeftovers(scope);
  while (!left.empty() && absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(100));
    left = DescribeLeftovers(scope);
  }
  return left;
}

}  // namespace pmi_shim::containers
