#include "common/net/relay_server.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "common/log.h"

namespace pmi_shim::net {

absl::StatusOr<std::unique_ptr<RelayServer>> RelayServer::Start(EventLoop& loop, UniqueFd listener,
                                                                Options options) {
  std::unique_ptr<RelayServer> server(new RelayServer(loop, std::move(options)));
  Acceptor::Options accept;
  accept.policy = server->options_.peer_policy;
  accept.description = server->options_.description;
  RelayServer* raw = server.get();
  absl::StatusOr<std::unique_ptr<Acceptor>> acceptor =
      Acceptor::Start(loop, std::move(listener), std::move(accept),
                      [raw](Acceptor::Client client) { raw->Serve(std::move(client)); });
  if (!acceptor.ok()) return acceptor.status();
  server->acceptor_ = *std::move(acceptor);
  return server;
}

RelayServer::RelayServer(EventLoop& loop, Options options)
    : loop_(loop), options_(std::move(options)), retired_(loop) {}

RelayServer::~RelayServer() {
  acceptor_.reset();
  relays_.clear();
  retired_.Clear();
}

void RelayServer::Serve(Acceptor::Client client) {
  absl::StatusOr<UniqueFd> target = options_.connector.connect();
  if (!target.ok()) {
    // Closing the client tells it the server is unreachable.
    Report(absl::UnavailableError(absl::StrCat("cannot reach ", options_.connector.description,
                                               ": ", target.status().message())));
    return;
  }
  ByteRelay::Options relay_options =
      options_.relay_options ? options_.relay_options(client) : ByteRelay::Options();
  if (relay_options.target_description.empty()) {
    relay_options.target_description = options_.connector.description;
  }
  // The relay's address is known once Start returns, before any event.
  auto self = std::make_shared<ByteRelay*>(nullptr);
  absl::StatusOr<std::unique_ptr<ByteRelay>> relay = ByteRelay::Start(
      loop_, std::move(client.fd), *std::move(target), options_.connector.state,
      std::move(relay_options), [this, self](absl::Status outcome) { Ended(*self, outcome); });
  if (!relay.ok()) {
    Report(relay.status());
    return;
  }
  ++total_;
  *self = relay->get();
  relays_[*self] = *std::move(relay);
}

void RelayServer::Ended(ByteRelay* relay, const absl::Status& outcome) {
  auto node = relays_.extract(relay);
  if (!node.empty()) retired_.Retire(std::move(node.mapped()));
  Report(outcome);
}

void RelayServer::Report(const absl::Status& outcome) {
  if (options_.on_relay_done) {
    options_.on_relay_done(outcome);
  } else if (!outcome.ok()) {
    log::Warning(absl::StrCat("relay: ", outcome.message()));
  }
}

}  // namespace pmi_shim::net
