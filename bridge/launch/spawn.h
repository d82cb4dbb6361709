// Starting one rank process. The only fork/exec in the launcher.
//
// The child gets an empty signal mask and default dispositions and keeps
// exactly one inherited fd besides stdio: its PMI_FD end. A launcher's rank
// gets its own session and process group, as mpiexec.hydra gives each rank:
// one kill reaches the rank and everything it started, and the scheduler
// treats it as hydra's. (With autogroup scheduling, on by default in Debian's
// kernels, CPU time is shared out per session first: ranks left in the
// caller's session would share one session's share with everything else
// started from that shell, e.g. a build, and ran 2-3x slower than hydra's on
// a busy machine.) A bridge's command stays in the bridge's group instead
// (the real launcher above kills ranks by process group) and dies with the
// bridge. A command that cannot be executed is reported as an error here,
// before any rank runs, instead of as a mysterious exit status 127.
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
  bool own_process_group = true;  // own session and group; false: the caller's
  int parent_death_signal = 0;    // sent to the child when its parent dies
};

absl::StatusOr<pid_t> Spawn(const SpawnRequest& request);

// The file execve() runs for `name`, searched in the PATH of `env` as execvp
// would (Spawn does this before the child exists, so that the child only
// makes system calls).
absl::StatusOr<std::string> ResolveExecutable(const std::string& name,
                                              const std::vector<std::string>& env);

}  // namespace pmi_shim::launch

#endif  // PMI_SHIM_BRIDGE_LAUNCH_SPAWN_H_
