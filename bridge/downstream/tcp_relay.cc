#include "bridge/downstream/tcp_relay.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <optional>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/sockets.h"
#include "common/status_macros.h"
#include "protocol/pmix/pmix_handshake.h"

namespace pmi_shim::downstream {
namespace {

struct BoundListener {
  UniqueFd fd;
  int port = 0;             // IPv4 only
  std::string description;  // for messages: "127.0.0.1:4000" or the socket path
};

// The listener given in `options` (owned from here on) or a new one.
absl::StatusOr<BoundListener> OpenListener(TcpRelay::Options& options) {
  BoundListener listener;
  if (options.listener_fd < 0) {
    ASSIGN_OR_RETURN(TcpListener made, ListenTcp4(options.listen_address, options.listen_port));
    listener.fd = std::move(made.fd);
    listener.port = made.port;
    listener.description = absl::StrCat(options.listen_address, ":", made.port);
    return listener;
  }
  listener.fd.Reset(std::exchange(options.listener_fd, -1));
  RETURN_IF_ERROR(SetNonBlocking(listener.fd.get()));
  sockaddr_storage bound{};
  socklen_t length = sizeof(bound);
  if (::getsockname(listener.fd.get(), reinterpret_cast<sockaddr*>(&bound), &length) != 0 ||
      (bound.ss_family != AF_INET && bound.ss_family != AF_UNIX)) {
    return absl::InvalidArgumentError("relay: the given listener is neither IPv4 nor Unix");
  }
  if (bound.ss_family == AF_INET) {
    const auto* in = reinterpret_cast<const sockaddr_in*>(&bound);
    char text[INET_ADDRSTRLEN] = {};
    ::inet_ntop(AF_INET, &in->sin_addr, text, sizeof(text));
    listener.port = ntohs(in->sin_port);
    listener.description = absl::StrCat(text, ":", listener.port);
  } else {
    listener.description = reinterpret_cast<const sockaddr_un*>(&bound)->sun_path;
  }
  return listener;
}

// The client's PMIx connect message, rewritten to claim the uid/gid the
// kernel gives it on this side (pmix_handshake.h).
net::ByteRelay::FirstMessageRewrite PresentIdentity(uint32_t uid, uint32_t gid) {
  net::ByteRelay::FirstMessageRewrite rewrite;
  rewrite.length = pmix::PmixConnectMessageLength;
  rewrite.rewrite = [uid, gid](absl::string_view message) {
    return pmix::RewritePmixConnectIdentity(message, uid, gid);
  };
  return rewrite;
}

}  // namespace

absl::StatusOr<std::unique_ptr<TcpRelay>> TcpRelay::Start(EventLoop& loop, Options options) {
  ASSIGN_OR_RETURN(BoundListener listener, OpenListener(options));
  net::RelayServer::Options server;
  server.connector = net::TcpConnector(
      options.target_address, options.target_port,
      absl::StrCat("the PMIx server at ", options.target_address, ":", options.target_port));
  server.description = listener.description;
  const bool present_identity = options.present_peer_identity;
  if (present_identity) server.peer_policy = net::PeerPolicy::kSameUserOrRoot;
  server.relay_options = [present_identity,
                          max = options.max_buffered_bytes](const net::Acceptor::Client& client) {
    net::ByteRelay::Options relay;
    relay.max_buffered_bytes = max;
    if (present_identity && client.credentials.has_value()) {
      relay.rewrite = PresentIdentity(client.credentials->uid, client.credentials->gid);
    }
    return relay;
  };
  std::unique_ptr<TcpRelay> relay(new TcpRelay());
  relay->port_ = listener.port;
  ASSIGN_OR_RETURN(relay->server_,
                   net::RelayServer::Start(loop, std::move(listener.fd), std::move(server)));
  return relay;
}

}  // namespace pmi_shim::downstream
