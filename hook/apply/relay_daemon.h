// The relay daemon: makes the host's 127.0.0.1:PORT reachable at the same
// address inside a container's private network namespace.
//
// The hook starts it as `pmi-shim-hook relay --netns PATH --address A
// --port P --uid U --gid G --pid PID --ready-fd 3` (a fresh exec, detached by
// a double fork, stdio on /dev/null so the runtime waiting on the hook's
// pipes is not held up). The daemon creates the listener inside the
// container's netns, returns to the host netns, drops to the job's user,
// locks itself down with seccomp, writes "ready PID" on the ready fd, and
// relays (common/net's RelayServer) until the container's init dies (pidfd)
// or SIGTERM.
// Before "ready" any failure is written there as "error MESSAGE" instead, so
// the hook returns only once the container can connect, or with the reason.
#ifndef PMI_SHIM_HOOK_APPLY_RELAY_DAEMON_H_
#define PMI_SHIM_HOOK_APPLY_RELAY_DAEMON_H_

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace pmi_shim::hook {

struct RelayLaunch {
  std::string self_path;   // the pmi-shim-hook binary
  std::string netns_path;  // the container's netns
  std::string address;     // listened on inside, connected to outside
  int port = 0;
  uid_t uid = 0;
  gid_t gid = 0;
  pid_t container_pid = 0;  // the relay exits when this process does
};

struct RelayProcess {
  pid_t pid = 0;
  uint64_t start_time = 0;
};

// Starts the daemon and waits (up to `timeout`) for its ready line.
absl::StatusOr<RelayProcess> StartRelayDaemon(const RelayLaunch& launch,
                                              absl::Duration timeout = absl::Seconds(10));

// SIGTERM, then SIGKILL after a grace period, to `pid` only if it is still
// the process that started at `start_time` (a recycled pid is left alone).
// OK when it is already gone.
absl::Status StopRelayDaemon(pid_t pid, uint64_t start_time);

// Field 22 (starttime, clock ticks after boot) of a /proc/PID/stat text.
absl::StatusOr<uint64_t> ParseStatStartTime(const std::string& stat);
absl::StatusOr<uint64_t> ProcessStartTime(pid_t pid);

// The `relay` verb's body: `args` are the words after "relay". Returns the
// exit code.
int RunRelayVerbImpl(const std::vector<std::string>& args);

}  // namespace pmi_shim::hook

#endif  // PMI_SHIM_HOOK_APPLY_RELAY_DAEMON_H_
