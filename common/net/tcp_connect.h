// ConnectTcp: a blocking TCP connect by host name, with a deadline, for
// programs that may use the resolver (the bridge). Kept apart from
// connector.h so that the static hook and pmi-shim-client do not link
// getaddrinfo.
#ifndef PMI_SHIM_COMMON_NET_TCP_CONNECT_H_
#define PMI_SHIM_COMMON_NET_TCP_CONNECT_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/unique_fd.h"

namespace pmi_shim::net {

// Connects to `host`:`port` (a name or an address of any family, tried in
// resolver order) before `deadline`. The socket is close-on-exec,
// non-blocking, with TCP_NODELAY (PMI messages are small and alternate).
// Errors: Unavailable (cannot resolve, refused), DeadlineExceeded.
absl::StatusOr<UniqueFd> ConnectTcp(const std::string& host, int port, absl::Time deadline);

}  // namespace pmi_shim::net

#endif  // PMI_SHIM_COMMON_NET_TCP_CONNECT_H_
