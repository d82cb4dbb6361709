// A container root filesystem assembled from this machine's own files, for
// end-to-end tests that run real engines (runc, Podman, Docker, ch-run).
//
// No image registry is reachable here, so an "image" is busybox-static plus
// the host programs a test needs, each with the shared libraries the dynamic
// loader would map for it (found with ldd, then copied at the same paths),
// and an /etc/ld.so.cache made for the result (ldconfig -r), so libraries
// that a program dlopen()s later (Open MPI's MCA components) resolve too.
//
//   RootfsSpec spec;
//   spec.programs.push_back({"/path/to/mpi_collectives", "/app/mpi_collectives"});
//   absl::Status s = BuildRootfs(dir + "/rootfs", spec);
//   ... runc bundle with root.path = "rootfs", or:
//   absl::Status t = WriteRootfsTar(dir + "/rootfs", dir + "/image.tar");  // podman/docker import
//
// The layout follows Debian 12's merged /usr: /bin, /sbin, /lib, /lib64 are
// links into /usr, so a library is found whichever spelling ldd printed.
#ifndef PMI_SHIM_TEST_TESTING_ROOTFS_H_
#define PMI_SHIM_TEST_TESTING_ROOTFS_H_

#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace pmi_shim::testutil {

// A host file and where it goes in the rootfs (absolute, inside).
struct HostCopy {
  std::string host_path;
  std::string path;
};

struct RootfsSpec {
  // /bin/busybox (from the busybox-static package) and a link per applet.
  bool busybox = true;
  // Applets to link in /bin; empty = every applet `busybox --list` names.
  std::vector<std::string> applets;
  // Host programs (or libraries) copied to `path`, plus the closure of
  // shared libraries each one needs, at the paths ldd names.
  std::vector<HostCopy> programs;
  // Host directories copied whole at the same path (e.g. Open MPI's plugin
  // directory), with the library closure of every ELF file inside.
  std::vector<std::string> host_trees;
  // Files written from memory: path inside -> contents (mode 0644; 0755 if
  // the path is under /bin, /usr/bin or /app).
  std::vector<std::pair<std::string, std::string>> files;
  // Extra empty directories (mode 0755), e.g. mount targets.
  std::vector<std::string> dirs;
};

// Creates `dir` (must not exist yet or be empty) and fills it as `spec` says,
// plus /etc/passwd, /etc/group, /etc/hosts, and empty /tmp (1777), /dev,
// /proc, /sys, /run, /root. Errors name the file that could not be copied.
absl::Status BuildRootfs(const std::string& dir, const RootfsSpec& spec);

// Absolute host paths of the shared libraries (and the dynamic loader) that
// `program` needs, transitively, as ldd reports them. Empty for a static
// program. Error if ldd reports a library "not found".
absl::StatusOr<std::vector<std::string>> SharedLibraryClosure(const std::string& program);

// Pure part of SharedLibraryClosure: the absolute paths in ldd's output
// ("libx.so.1 => /path (0x...)" and "/lib64/ld-linux-x86-64.so.2 (0x...)"),
// skipping the vDSO. "libx.so.1 => not found" is an error naming libx.
absl::StatusOr<std::vector<std::string>> ParseLddOutput(const std::string& text);

// A tar of `dir`'s contents (paths relative to it), for `podman import` or
// `docker import`.
absl::Status WriteRootfsTar(const std::string& dir, const std::string& tar_path);

}  // namespace pmi_shim::testutil

#endif  // PMI_SHIM_TEST_TESTING_ROOTFS_H_
