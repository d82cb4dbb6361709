// TcpRelay: a loopback listener whose every connection is piped, byte for
// byte, to one fixed TCP target.
//
// This is the PMIx→PMIx cell of the translation matrix: client and server
// already speak the same protocol, so the bridge only has to stand between
// them (for a container, on the far side of a network namespace; for
// `pmi-bridge exec`, to watch and later to rewrite). Each direction has a
// bounded buffer: when the far side does not drain, the relay stops reading
// from the near side, so a stalled peer cannot make it grow without limit.
// When one side closes, the other gets the rest of the bytes and then a
// half-close; a reset or error closes both. The plumbing is common/net's
// RelayServer; this adds the listener choice and the PMIx identity rewrite.
#ifndef PMI_SHIM_BRIDGE_DOWNSTREAM_TCP_RELAY_H_
#define PMI_SHIM_BRIDGE_DOWNSTREAM_TCP_RELAY_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "common/event_loop.h"
#include "common/net/relay_server.h"

namespace pmi_shim::downstream {

class TcpRelay {
 public:
  struct Options {
    std::string listen_address = "127.0.0.1";
    int listen_port = 0;  // 0: any free port
    // A listening socket made elsewhere (e.g. inside another network
    // namespace, which a socket keeps for life) used instead of
    // listen_address/listen_port. Start() owns it from the call on, also when
    // it fails; it is made non-blocking. -1: listen on the address above.
    int listener_fd = -1;
    // With a Unix listener_fd: present each client to the PMIx server as the
    // uid/gid the kernel reports for it (SO_PEERCRED) by rewriting its
    // connect message (pmix_handshake.h), so a client in a user namespace
    // passes `native` security. Clients of another user than this process's
    // (or root) are refused.
    bool present_peer_identity = false;
    std::string target_address = "127.0.0.1";
    int target_port = 0;
    size_t max_buffered_bytes = 1 << 20;  // per direction
  };

  static absl::StatusOr<std::unique_ptr<TcpRelay>> Start(EventLoop& loop, Options options);
  ~TcpRelay() = default;
  TcpRelay(const TcpRelay&) = delete;
  TcpRelay& operator=(const TcpRelay&) = delete;

  int port() const { return port_; }  // 0 for a Unix listener
  size_t total_connections() const { return server_->total_relays(); }

 private:
  TcpRelay() = default;

  int port_ = 0;
  std::unique_ptr<net::RelayServer> server_;
};

}  // namespace pmi_shim::downstream

#endif  // PMI_SHIM_BRIDGE_DOWNSTREAM_TCP_RELAY_H_
