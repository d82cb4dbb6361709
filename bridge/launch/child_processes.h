// ChildProcesses: the children of a pmi-bridge process and their signals.
//
// Both `pmi-bridge launch` (N ranks) and `pmi-bridge exec` (one command per
// rank) start children, must hear when they exit, forward Ctrl-C and
// friends to them, and kill them cleanly when the job ends early. This class
// does that on the caller's EventLoop through a signalfd: SIGCHLD, SIGINT,
// SIGTERM, SIGHUP and SIGQUIT are blocked in this process while it lives
// (and restored after), so no signal handler ever runs.
//
// A child that has its own process group (SpawnRequest::own_process_group)
// is signalled as a group, so the signal reaches everything it started (a
// shell wrapper, a container engine's helpers); others are signalled alone.
#ifndef PMI_SHIM_BRIDGE_LAUNCH_CHILD_PROCESSES_H_
#define PMI_SHIM_BRIDGE_LAUNCH_CHILD_PROCESSES_H_

#include <signal.h>
#include <sys/types.h>

#include <functional>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "bridge/launch/spawn.h"
#include "common/event_loop.h"
#include "common/unique_fd.h"

namespace pmi_shim::launch {

class ChildProcesses {
 public:
  struct Events {
    // Runs before exits are reported, so that what exiting children sent on
    // their sockets (an abort, a finalize) is handled before their death.
    std::function<void()> before_exits;
    // Child number `index` (its Spawn index) exited with `wait_status`.
    std::function<void(int index, int wait_status)> exited;
    // This process got SIGINT/SIGTERM/SIGHUP/SIGQUIT for the `count`th time.
    std::function<void(int signal, int count)> interrupted;
  };

  ChildProcesses(EventLoop& loop, Events events);
  ~ChildProcesses();
  ChildProcesses(const ChildProcesses&) = delete;
  ChildProcesses& operator=(const ChildProcesses&) = delete;

  // Blocks the handled signals and starts watching them. Call before Spawn.
  absl::Status Start();

  // Starts a child and remembers it as number `index`.
  absl::StatusOr<pid_t> Spawn(int index, const SpawnRequest& request);

  // Sends `signal` to the process group of every running child.
  void SignalAll(int signal);

  // SIGTERM now, SIGKILL to whatever still runs after `grace`.
  void TerminateAll(absl::Duration grace);

  int running() const { return static_cast<int>(children_.size()); }

 private:
  void OnSignals();

  EventLoop& loop_;
  Events events_;
  UniqueFd signal_fd_;
  sigset_t saved_mask_;
  bool started_ = false;
  struct Child {
    int index;
    bool own_group;
  };
  absl::flat_hash_map<pid_t, Child> children_;
  int interrupts_ = 0;
};

// A wait status as a shell reports it: the exit code, or 128 + signal.
int ExitStatusOf(int wait_status);

// "exited with code 3" / "was killed by signal 9 (Killed)".
std::string DescribeExit(int wait_status);

}  // namespace pmi_shim::launch

#endif  // PMI_SHIM_BRIDGE_LAUNCH_CHILD_PROCESSES_H_
