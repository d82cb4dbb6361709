// A TCP listener made inside another network namespace.
//
// A socket belongs for life to the namespace it was created in, so the relay
// daemon steps into the container's netns just long enough to create the
// listener (bringing `lo` up first when the runtime left it down: runc's new
// netns has lo down, podman --network none brings it up), then steps back to
// the host's netns, where its connections to the real server are made.
// setns(CLONE_NEWNET) changes only the calling thread.
#ifndef PMI_SHIM_HOOK_APPLY_NETNS_LISTENER_H_
#define PMI_SHIM_HOOK_APPLY_NETNS_LISTENER_H_

#include <string>

#include "absl/status/statusor.h"
#include "common/unique_fd.h"

namespace pmi_shim::hook {

// Listens on `address`:`port` (SO_REUSEADDR, non-blocking) inside the network
// namespace named by `netns_path`, and returns to the caller's namespace
// before returning, on success and on failure.
absl::StatusOr<UniqueFd> ListenInNetns(const std::string& netns_path, const std::string& address,
                                       int port);

// Sets IFF_UP on `lo` of the calling thread's netns when it is down.
absl::Status BringLoopbackUp();

}  // namespace pmi_shim::hook

#endif  // PMI_SHIM_HOOK_APPLY_NETNS_LISTENER_H_
