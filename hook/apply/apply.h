// Applying a hook::Plan to a starting container, and undoing it.
//
// ApplyPlan runs at createRuntime (host namespaces, the container's
// namespaces already made, before its pivot_root). Each step is written to
// the applied-record (STATE_DIR/<id>.json, see applied_record.h) before it is
// taken and again after, and a failure undoes every step taken so far in
// reverse order, so the container starts with all of the plan or none of it.
// CleanupContainer (poststop) undoes what the record says: it stops the
// relays and removes the paths the hook created in the rootfs (the mounts
// went away with the container's mount namespace). Nothing from the image is
// ever executed; relays are this binary, re-executed as `SELF relay ...`.
//
// Errors are one line (no program prefix) saying what was wrong.
#ifndef PMI_SHIM_HOOK_APPLY_APPLY_H_
#define PMI_SHIM_HOOK_APPLY_APPLY_H_

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "hook/plan.h"

namespace pmi_shim::hook {

struct ApplyOptions {
  std::string state_dir = "/run/pmi-shim-hook";
  // Path of the pmi-shim-hook binary, to start relays as `self_path relay ...`.
  std::string self_path;
};

// All or nothing; see above. Relays are started only when
// plan.private_netns (in the host's netns the host address already works).
absl::Status ApplyPlan(const Plan& plan, const ApplyOptions& options);

// Poststop: undoes the record of `container_id` and removes it. OK (no-op)
// when nothing is recorded. Keeps going past a failing step and returns the
// first problem.
absl::Status CleanupContainer(const std::string& container_id, const ApplyOptions& options);

// The body of `pmi-shim-hook relay ...`: `args` are the words AFTER "relay"
// (--netns PATH --address A --port P --uid U --gid G --pid PID --ready-fd N).
// Returns the process exit code.
int RunRelayVerb(const std::vector<std::string>& args);

}  // namespace pmi_shim::hook

#endif  // PMI_SHIM_HOOK_APPLY_APPLY_H_
