// Small socket helpers shared by the servers and relays: non-blocking mode,
// loopback TCP listeners. Errors carry the failing call and address.
#ifndef PMI_SHIM_COMMON_SOCKETS_H_
#define PMI_SHIM_COMMON_SOCKETS_H_

#include <sys/socket.h>
#include <sys/types.h>

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "common/unique_fd.h"

namespace pmi_shim {

absl::Status SetNonBlocking(int fd);

struct TcpListener {
  UniqueFd fd;   // listening, non-blocking, close-on-exec
  int port = 0;  // the port actually bound
};

// Listens on IPv4 `address`:`port` (0: the kernel picks a free port).
absl::StatusOr<TcpListener> ListenTcp4(const std::string& address, int port);

// Starts a non-blocking connect to IPv4 `address`:`port`; the connection
// completes (or fails, see SO_ERROR) when the socket becomes writable.
absl::StatusOr<UniqueFd> StartConnectTcp4(const std::string& address, int port);

// Listens on a Unix stream socket at `path` (which must not exist yet);
// non-blocking, close-on-exec. The caller unlinks the path when done.
absl::StatusOr<UniqueFd> ListenUnix(const std::string& path);

// The pid/uid/gid of the process at the other end of a connected Unix
// socket, as the kernel recorded them at connect time (SO_PEERCRED), in this
// process's user namespace.
absl::StatusOr<ucred> PeerCredentials(int fd);

}  // namespace pmi_shim

#endif  // PMI_SHIM_COMMON_SOCKETS_H_
