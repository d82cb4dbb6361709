// OCI runtime bundles for tests that run runc directly: a config.json made
// from a small struct (what a test varies: args, env, namespaces, mounts,
// hooks, annotations, user), next to a rootfs from test/testing/rootfs.h.
//
//   BundleSpec spec;
//   spec.args = {"/bin/echo", "hi"};
//   spec.hooks.create_runtime.push_back({hook_path, {"pmi-shim-hook", "createRuntime"}});
//   RETURN_IF_ERROR(WriteBundle(bundle_dir, spec));   // bundle_dir/config.json
//   runc --root R run --bundle bundle_dir ID           (runc.h)
//
// The defaults mirror `runc spec` (proc, tmpfs /dev, devpts, /dev/shm,
// mqueue, read-only sysfs; pid, network, ipc, uts and mount namespaces), minus
// the terminal and the rlimits, so a container is as private as runc's own
// template, network included.
#ifndef PMI_SHIM_TEST_CONTAINERS_OCI_BUNDLE_H_
#define PMI_SHIM_TEST_CONTAINERS_OCI_BUNDLE_H_

#include <map>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "nlohmann/json.hpp"

namespace pmi_shim::containers {

struct OciMount {
  std::string destination;
  std::string type = "bind";
  std::string source;
  std::vector<std::string> options = {"rbind", "ro"};
};

struct OciHook {
  std::string path;
  std::vector<std::string> args;  // args[0] included, as the spec wants
  std::vector<std::string> env;   // KEY=VALUE
  int timeout_seconds = 0;        // 0: none
};

struct OciHooks {
  std::vector<OciHook> create_runtime;
  std::vector<OciHook> poststop;
};

struct BundleSpec {
  std::vector<std::string> args = {"/bin/true"};
  std::vector<std::string> env = {"PATH=/usr/sbin:/usr/bin:/sbin:/bin"};
  std::string cwd = "/";
  unsigned uid = 0;
  unsigned gid = 0;
  // root.path as written (relative to the bundle, like runc's template).
  std::string root_path = "rootfs";
  bool root_readonly = false;
  std::string hostname = "ctr";
  // Linux namespace types to create ("pid", "network", "ipc", "uts", "mount",
  // "user", "cgroup"). Drop "ipc" to share the host's (MPICH shared memory).
  std::vector<std::string> namespaces = {"pid", "network", "ipc", "uts", "mount"};
  // After the defaults (proc, /dev, devpts, /dev/shm, mqueue, /sys).
  std::vector<OciMount> mounts;
  // Replace the default tmpfs /dev/shm with a bind of the host's.
  bool host_dev_shm = false;
  OciHooks hooks;
  std::map<std::string, std::string> annotations;
};

// The config.json document for `spec` (pure).
nlohmann::json BundleConfig(const BundleSpec& spec);

// Writes `dir`/config.json (creating `dir`); the rootfs is the caller's.
absl::Status WriteBundle(const std::string& dir, const BundleSpec& spec);

}  // namespace pmi_shim::containers

#endif  // PMI_SHIM_TEST_CONTAINERS_OCI_BUNDLE_H_
