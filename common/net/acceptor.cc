#include "common/net/acceptor.h"

#include <sys/epoll.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/log.h"
#include "common/sockets.h"

namespace pmi_shim::net {

absl::Status CheckPeerUid(uid_t peer_uid, uid_t own_uid) {
  if (peer_uid == own_uid || peer_uid == 0) return absl::OkStatus();
  return absl::PermissionDeniedError(
      absl::StrCat("it runs as uid ", peer_uid, ", this job as uid ", own_uid));
}

absl::StatusOr<std::unique_ptr<Acceptor>> Acceptor::Start(EventLoop& loop, UniqueFd listener,
                                                          Options options,
                                                          AcceptHandler on_accept) {
  std::unique_ptr<Acceptor> acceptor(
      new Acceptor(loop, std::move(listener), std::move(options), std::move(on_accept)));
  Acceptor* raw = acceptor.get();
  absl::Status watched =
      loop.Watch(raw->listener_.get(), EPOLLIN, [raw](uint32_t) { raw->AcceptPending(); });
  if (!watched.ok()) return watched;
  raw->watched_ = true;
  return acceptor;
}

// The uid is read once: the hook's relay daemon may not call getuid() under
// its seccomp filter.
Acceptor::Acceptor(EventLoop& loop, UniqueFd listener, Options options, AcceptHandler on_accept)
    : loop_(loop),
      listener_(std::move(listener)),
      options_(std::move(options)),
      on_accept_(std::move(on_accept)),
      own_uid_(::getuid()) {}

Acceptor::~Acceptor() {
  if (watched_) loop_.Unwatch(listener_.get());
}

void Acceptor::AcceptPending() {
  while (listener_.valid()) {
    Client client;
    client.fd.Reset(::accept4(listener_.get(), nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK));
    if (!client.fd.valid()) {
      if (errno == EINTR || errno == ECONNABORTED) continue;
      if (errno != EAGAIN && errno != EWOULDBLOCK) {
        log::Warning(absl::StrCat("accept on ", options_.description, ": ", std::strerror(errno)));
      }
      return;
    }
    if (!Admit(client)) continue;
    on_accept_(std::move(client));
  }
}

bool Acceptor::Admit(Client& client) const {
  if (options_.policy == PeerPolicy::kAnyone) return true;
  absl::StatusOr<ucred> peer = PeerCredentials(client.fd.get());
  absl::Status allowed = peer.ok() ? CheckPeerUid(peer->uid, own_uid_) : peer.status();
  if (allowed.ok()) {
    client.credentials = *peer;
    return true;
  }
  log::Warning(absl::StrCat("refused a client on ", options_.description, ": ", allowed.message(),
                            "; ", options_.refusal_advice));
  return false;
}

}  // namespace pmi_shim::net
