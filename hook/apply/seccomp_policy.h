// The seccomp allow-list of the relay daemon (design.md §6: relays run as the
// job's user under an allow-list).
//
// Installed after the listener, the epoll instance, the pidfd and the
// signalfd exist, so the loop only needs to wait, accept, open outgoing IPv4
// sockets, move bytes and exit. Anything else kills the process: a relay that
// someone steered into open(), execve() or ptrace() dies instead.
#ifndef PMI_SHIM_HOOK_APPLY_SECCOMP_POLICY_H_
#define PMI_SHIM_HOOK_APPLY_SECCOMP_POLICY_H_

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace pmi_shim::hook {

// Loads the filter into the calling thread (and sets no_new_privs).
absl::Status InstallRelaySeccompPolicy();

// The filter as libseccomp's readable PFC text, for tests and `explain`.
absl::StatusOr<std::string> RelaySeccompPolicyText();

}  // namespace pmi_shim::hook

#endif  // PMI_SHIM_HOOK_APPLY_SECCOMP_POLICY_H_
