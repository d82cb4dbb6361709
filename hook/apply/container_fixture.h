// Test helpers for the privileged apply tests: a busybox rootfs, a process
// standing in for a container's init (real, fresh mount and network
// namespaces), and readers for what the kernel says is mounted.
#ifndef PMI_SHIM_HOOK_APPLY_CONTAINER_FIXTURE_H_
#define PMI_SHIM_HOOK_APPLY_CONTAINER_FIXTURE_H_

#include <sys/types.h>

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace pmi_shim::hook::testing {

// A fresh directory under /tmp (short: Unix socket paths must fit 108 bytes).
std::string MakeTempDir(const std::string& prefix);
void RemoveTree(const std::string& path);

// rootfs/bin/busybox (a copy of the host's static /bin/busybox) with
// sh, cat, nc, ls, echo, grep, sleep, test linked to it, plus empty
// proc, dev, sys, tmp, etc.
absl::Status MakeBusyboxRootfs(const std::string& rootfs);

// A child process in new mount and network namespaces (mounts made private),
// waiting until it is killed: what ApplyPlan sees of a container at
// createRuntime. Killed and reaped by Stop() or the destructor.
class NamespaceHolder {
 public:
  NamespaceHolder();
  ~NamespaceHolder();
  bool ok() const { return pid_ > 0; }
  pid_t pid() const { return pid_; }
  void Stop();

 private:
  pid_t pid_ = -1;
};

// Mount points (field 5) and options (field 6) of /proc/PID/mountinfo.
struct MountEntry {
  std::string mount_point;
  std::string options;
};
std::vector<MountEntry> Mounts(pid_t pid);
// Mount entries whose mount point is `path` or lies under it.
std::vector<MountEntry> MountsUnder(pid_t pid, const std::string& path);

// Every path under `dir` (relative, sorted), for "nothing was created" checks.
std::vector<std::string> ListTree(const std::string& dir);

// A Unix stream socket bound at `path`, listening.
absl::StatusOr<int> ListenUnix(const std::string& path);

}  // namespace pmi_shim::hook::testing

#endif  // PMI_SHIM_HOOK_APPLY_CONTAINER_FIXTURE_H_
