// `pmi-shim-hook [--config F] STAGE`: the OCI hook proper. runc/crun/Podman
// run it with the container state on stdin.
//   createRuntime (also prestart, createContainer): decide, plan, apply
//   poststop: undo what the applied-record says (even if config.json is gone)
// A container that does not ask for pmi-shim costs one small JSON parse and
// exit 0, touching nothing.
#ifndef PMI_SHIM_HOOK_STAGE_COMMAND_H_
#define PMI_SHIM_HOOK_STAGE_COMMAND_H_

#include <functional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "hook/admin_config.h"
#include "hook/plan.h"

namespace pmi_shim::hook {

// The kernel-facing half (hook/apply), passed in so this file stays testable.
struct Appliers {
  std::function<absl::Status(const Plan& plan, const AdminConfig& admin)> apply;
  std::function<absl::Status(const std::string& container_id, const AdminConfig& admin)> cleanup;
};

// True for the stage names accepted as the hook's first operand.
bool IsStageName(const std::string& word);

// `args` excludes the program name. Exit status: 0 done or not asked,
// 1 failed (one line on stderr and in the log), 2 bad command line.
int RunStageCommand(const std::vector<std::string>& args, int state_fd, const Appliers& appliers);

}  // namespace pmi_shim::hook

#endif  // PMI_SHIM_HOOK_STAGE_COMMAND_H_
