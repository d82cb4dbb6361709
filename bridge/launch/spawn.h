// Starting one rank process. The only fork/exec in the launcher.
//
// The child gets its own process group (so the launcher can signal a rank
// and everything it started with one kill), an empty signal mask and default
// dispositions, and keeps exactly one inherited fd besides stdio: its
// PMI_FD end. A command that cannot be executed is reported as an error
// here, before any rank runs, instead of as a mysterious exit status 127.
#ifndef PMI_SHIM_BRIDGE_LAUNCH_SPAWN_H_
#define PMI_SHIM_BRIDGE_LAUNCH_SPAWN_H_

#include <sys/types.h>

#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace pmi_shim::launch {

struct SpawnRequest {
  std::vector<std::string> argv;  // argv[0] is looked up in PATH
  std::vector<std::string> env;   // "NAME=value"
  int inherit_fd = -1;            // stays open across exec when >= 0
};

absl::StatusOr<pid_t> SpawnInOwnProcessGroup(const SpawnRequest& request);

}  // namespace pmi_shim::launch

#endif  // PMI_SHIM_BRIDGE_LAUNCH_SPAWN_H_
