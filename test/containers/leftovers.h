// What a container test left behind: mounts, bound Unix sockets, files,
// processes and containers. Every container test ends with
//
//   EXPECT_EQ(DescribeLeftovers(scope), "");
//
// where an empty string means clean and anything else is one line naming
// each kind of leftover (mount points, socket paths, pids with command
// lines, container ids), so a failure says what to look for.
//
// Also the scratch directory every container test works in: short (Unix
// socket paths are limited to 107 bytes, and containerd nests its sockets
// deep), under /tmp, and removed with whatever is still mounted under it.
#ifndef PMI_SHIM_TEST_CONTAINERS_LEFTOVERS_H_
#define PMI_SHIM_TEST_CONTAINERS_LEFTOVERS_H_

#include <string>

#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace pmi_shim::containers {

struct LeftoverScope {
  // Mount points at or under these paths (this process's mount namespace).
  std::vector<std::string> mount_prefixes;
  // Bound Unix sockets (/proc/net/unix, this network namespace) under these.
  std::vector<std::string> socket_prefixes;
  // Paths that must not exist any more.
  std::vector<std::string> absent_paths;
  // Directories that must be empty (or absent).
  std::vector<std::string> empty_dirs;
  // Live processes whose environment holds testutil::kMarkerVar=marker.
  std::string marker;
  // Live processes whose command line contains one of these (e.g. the
  // scratch dir: dockerd, containerd, its shims and conmon all name it).
  std::vector<std::string> cmdline_substrings;
  // Commands that print one container per line (`runc --root R list -q`,
  // `podman ... ps -aq`); any output is a leftover.
  std::vector<std::vector<std::string>> container_lists;
};

// "" when nothing is left; else e.g.
// "mounts: /tmp/ct.1/a; processes: 123 conmon ...; containers(runc): r0".
std::string DescribeLeftovers(const LeftoverScope& scope);

// DescribeLeftovers once nothing is left, or after `grace`: an engine's
// helpers (Podman's conmon and its cleanup call) end a moment after the
// engine's own command returns, so a check made at once can race them.
std::string DescribeLeftoversAfter(const LeftoverScope& scope, absl::Duration grace);

// Pure parsers, for DescribeLeftovers and their tests.
// Mount points (field 5 of mountinfo, octal escapes decoded) at or under `prefix`.
std::vector<std::string> MountPointsUnder(const std::string& mountinfo, const std::string& prefix);
// Paths of bound sockets in /proc/net/unix text at or under `prefix`.
std::vector<std::string> UnixSocketsUnder(const std::string& proc_net_unix,
                                          const std::string& prefix);

// mkdtemp("/tmp/<prefix>.XXXXXX"); Remove() (and the destructor) detaches
// every mount under it, deepest first, then deletes it.
class ScratchDir {
 public:
  static absl::StatusOr<ScratchDir> Create(const std::string& prefix);
  ScratchDir(ScratchDir&& other) noexcept : path_(std::move(other.path_)) { other.path_.clear(); }
  ScratchDir& operator=(ScratchDir&&) = delete;
  ScratchDir(const ScratchDir&) = delete;
  ~ScratchDir() { Remove(); }

  const std::string& path() const { return path_; }
  // "" if clean; else what could not be unmounted or removed.
  std::string Remove();

 private:
  explicit ScratchDir(std::string path) : path_(std::move(path)) {}
  std::string path_;
};

// Detaches (MNT_DETACH) every mount at or under `prefix`, deepest first;
// returns the mount points it could not detach.
std::vector<std::string> UnmountAllUnder(const std::string& prefix);

}  // namespace pmi_shim::containers

#endif  // PMI_SHIM_TEST_CONTAINERS_LEFTOVERS_H_
