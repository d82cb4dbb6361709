// RelayServer: a listener whose every client is relayed (ByteRelay) to a
// new connection made by a Connector.
//
// This is the composition behind every byte relay in pmi-shim: the
// bridge's TcpRelay (loopback TCP or pmix.sock → the host's PMIx server),
// the hook's relay daemon (a container's netns → the host's loopback),
// pmi-shim-client's in-container relay (127.0.0.1 → pmix.sock) and
// `pmi-bridge trace` (its PMI_PORT → the real one, with a tap).
//
//   RelayServer::Options options;
//   options.connector = TcpConnector("127.0.0.1", server_port);
//   ASSIGN_OR_RETURN(relay_, RelayServer::Start(loop, std::move(listener), options));
//
// A client whose target cannot be connected is closed at once, which tells
// it the server is unreachable. Relays end on their own (ByteRelay) and are
// freed on the next tick.
#ifndef PMI_SHIM_COMMON_NET_RELAY_SERVER_H_
#define PMI_SHIM_COMMON_NET_RELAY_SERVER_H_

#include <cstddef>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "common/event_loop.h"
#include "common/net/acceptor.h"
#include "common/net/byte_relay.h"
#include "common/net/connector.h"
#include "common/net/retire_queue.h"
#include "common/unique_fd.h"

namespace pmi_shim::net {

class RelayServer {
 public:
  struct Options {
    Connector connector;
    // Who may connect; the description names the listener in messages.
    PeerPolicy peer_policy = PeerPolicy::kAnyone;
    std::string description;
    // The relay of each client: buffers, rewrite, tap. Gets the client's
    // credentials (set under kSameUserOrRoot). Null: defaults.
    std::function<ByteRelay::Options(const Acceptor::Client& client)> relay_options;
    // Each relay's outcome: OK, or one line (a failed connect included).
    // Null: failures are logged as warnings prefixed "relay: ".
    std::function<void(const absl::Status& outcome)> on_relay_done;
  };

  // Serves `listener` (bound and listening; owned from here on, also on
  // failure).
  static absl::StatusOr<std::unique_ptr<RelayServer>> Start(EventLoop& loop, UniqueFd listener,
                                                            Options options);
  ~RelayServer();
  RelayServer(const RelayServer&) = delete;
  RelayServer& operator=(const RelayServer&) = delete;

  size_t open_relays() const { return relays_.size(); }
  size_t total_relays() const { return total_; }

 private:
  RelayServer(EventLoop& loop, Options options);
  void Serve(Acceptor::Client client);
  void Ended(ByteRelay* relay, const absl::Status& outcome);
  void Report(const absl::Status& outcome);

  EventLoop& loop_;
  Options options_;
  std::unique_ptr<Acceptor> acceptor_;
  absl::flat_hash_map<ByteRelay*, std::unique_ptr<ByteRelay>> relays_;
  RetireQueue retired_;
  size_t total_ = 0;
};

}  // namespace pmi_shim::net

#endif  // PMI_SHIM_COMMON_NET_RELAY_SERVER_H_
