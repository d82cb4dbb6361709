// RunInOwnSession: how `pmi-bridge launch` splits itself, as mpiexec.hydra
// does (mpiexec in the caller's session, hydra_pmi_proxy and each rank in a
// session of their own): a front process stays where it was started, gets
// Ctrl-C and the like from the terminal and forwards them; the job's PMI
// server and rank starter runs in a child that leads a new session.
//
// Why: with autogroup scheduling (kernel.sched_autogroup_enabled=1, the
// default of Debian's kernels) CPU time is shared out per session first. A
// PMI server left in the caller's session shares one session's CPU share
// with whatever else runs there (a build, busy loops), answers late, and its
// ranks wait on it: 2-3x hydra's start-up time on a busy 2-CPU machine.
#ifndef PMI_SHIM_BRIDGE_LAUNCH_OWN_SESSION_H_
#define PMI_SHIM_BRIDGE_LAUNCH_OWN_SESSION_H_

#include "absl/functional/function_ref.h"

namespace pmi_shim::launch {

// Runs `body` in a child process that leads a new session and gets SIGTERM
// if this process dies; this process forwards SIGINT, SIGTERM, SIGHUP and
// SIGQUIT to it and returns its exit status (128 + N when signal N killed
// it). `body` starts with those signals and SIGCHLD blocked, as a signalfd
// (launch::ChildProcesses) wants them. When no child can be made, runs
// `body` here.
int RunInOwnSession(absl::FunctionRef<int()> body);

}  // namespace pmi_shim::launch

#endif  // PMI_SHIM_BRIDGE_LAUNCH_OWN_SESSION_H_
