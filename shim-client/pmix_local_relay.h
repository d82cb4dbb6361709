// The in-container side of a PMIx rendezvous when the host server's
// 127.0.0.1:PORT cannot be reached from here (the container has its own
// network namespace and no hook relayed the port): a child process listens
// on 127.0.0.1:0 inside the container (no privilege needed) and pipes every
// connection, byte for byte, to the bridge's pmix.sock, which the bridge in
// turn relays to the server. The child runs an EventLoop with common/net's
// RelayServer (backpressure, half-close). The caller points PMIX_SERVER_URI* at the new
// port (protocol/pmix/pmix_uri.h) and execs the application, which
// keeps the pid the engine started; the relay child gets SIGKILL when it
// does (PR_SET_PDEATHSIG), so it never outlives the rank.
#ifndef PMI_SHIM_SHIM_CLIENT_PMIX_LOCAL_RELAY_H_
#define PMI_SHIM_SHIM_CLIENT_PMIX_LOCAL_RELAY_H_

#include <sys/types.h>

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace pmi_shim::shim_client {

// Whether a TCP connection to IPv4 `host`:`port` is accepted within
// `timeout` (then closed at once: PMIx servers drop a silent peer quietly).
absl::Status ProbeTcp4(const std::string& host, int port, absl::Duration timeout);

struct LocalRelay {
  int port = 0;   // 127.0.0.1:port in this network namespace
  pid_t pid = 0;  // the relay child
};

// Listens, forks the relay child and returns. Call while single-threaded
// (the child runs on after fork). Errors: the listener, the fork.
absl::StatusOr<LocalRelay> StartLocalPmixRelay(const std::string& unix_path);

}  // namespace pmi_shim::shim_client

#endif  // PMI_SHIM_SHIM_CLIENT_PMIX_LOCAL_RELAY_H_
