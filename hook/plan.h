// The hook's plan: everything pmi-shim-hook will do to one container,
// decided from its config.json and state alone (pure data, no syscalls).
//
//   oci_config (parse) → decision (does it ask for pmi-shim?) → plan (this)
//     → explain (print it)  or  apply (mounts, relays; kernel-facing, thin)
//     → poststop (undo what the applied-record says)
//
// Paths named `target` are inside the container and are resolved inside the
// rootfs by the applier, never following a link the image controls.
#ifndef PMI_SHIM_HOOK_PLAN_H_
#define PMI_SHIM_HOOK_PLAN_H_

#include <sys/types.h>

#include <string>
#include <vector>

namespace pmi_shim::hook {

// A host path to bind into the container.
struct MountStep {
  enum class Kind { kDirectory, kSocket, kFile };
  std::string source;  // absolute host path, checked against the admin's allowed dirs
  std::string target;  // absolute path inside the container
  Kind kind = Kind::kDirectory;
  bool read_only = true;  // remount read-only (always nosuid,nodev) after the bind
  std::string why;        // one line for `explain` and the log
};

// A TCP rendezvous on the host's loopback that must be reachable at the same
// address inside the container's private network namespace: a listener is
// made inside the container's netns and relayed to the host address.
struct RelayStep {
  std::string address;  // IPv4 literal, loopback (e.g. 127.0.0.1)
  int port = 0;
  std::string why;
};

struct Plan {
  std::string container_id;
  pid_t pid = 0;           // the container's init, from the state
  std::string bundle;      // absolute
  std::string rootfs;      // absolute (root.path resolved against the bundle)
  std::string netns_path;  // the container's network namespace, "" = host's
  bool private_netns = false;
  uid_t uid = 0;  // process.user: owner expected of carried-in sockets
  gid_t gid = 0;
  std::vector<MountStep> mounts;
  std::vector<RelayStep> relays;
  std::vector<std::string> notes;  // advice that is not an action (e.g. gds=hash)
  // KEY=VALUE entries for process.env. Only the runtime wrapper can add them
  // (it edits config.json before the container exists); a hook only reports
  // them, in `notes`. Added by the planner half (hook/planner.h).
  std::vector<std::string> env;

  bool empty() const { return mounts.empty() && relays.empty(); }
};

}  // namespace pmi_shim::hook

#endif  // PMI_SHIM_HOOK_PLAN_H_
