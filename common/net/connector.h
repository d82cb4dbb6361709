// Outgoing connections: one ConnectUnix for the whole tree, and Connector,
// the pluggable far side of a relay. (ConnectTcp, which resolves host names,
// is in tcp_connect.h: the static hook and client must not link the
// resolver.)
//
// A relay connects one new socket per client it accepts; where to is the
// Connector's business: an IPv4 loopback server (the host's PMIx server, a
// PMI_PORT), a Unix socket (the bridge's pmix.sock seen from inside a
// container), or anything a caller writes.
//
//   ByteRelay ... TcpConnector("127.0.0.1", port)  // non-blocking connect
//   ByteRelay ... UnixConnector(pmix_socket_path)  // connected at once
#ifndef PMI_SHIM_COMMON_NET_CONNECTOR_H_
#define PMI_SHIM_COMMON_NET_CONNECTOR_H_

#include <functional>
#include <string>

#include "absl/status/statusor.h"
#include "common/net/stream.h"
#include "common/unique_fd.h"

namespace pmi_shim::net {

// Connects a close-on-exec stream socket to the Unix socket at `path`
// (blocking: a local connect does not wait for the peer). Errors name the
// path; InvalidArgument when it does not fit sun_path.
absl::StatusOr<UniqueFd> ConnectUnix(const std::string& path);

struct Connector {
  // Where it connects, for messages: "the PMIx server at 127.0.0.1:5000".
  std::string description;
  // A new socket towards the target, connected or with its connect under
  // way (then `state` says kConnecting).
  std::function<absl::StatusOr<UniqueFd>()> connect;
  Stream::State state = Stream::State::kConnected;
};

// IPv4 `address`:`port`, connected without blocking the loop.
Connector TcpConnector(std::string address, int port, std::string description = "");
// The Unix socket at `path`.
Connector UnixConnector(std::string path, std::string description = "");

}  // namespace pmi_shim::net

#endif  // PMI_SHIM_COMMON_NET_CONNECTOR_H_
