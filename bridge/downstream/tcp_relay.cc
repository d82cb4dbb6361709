#include "bridge/downstream/tcp_relay.h"

#include <netinet/in.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <optional>
#include <utility>

#include "absl/strings/str_cat.h"
#include "protocol/pmix/pmix_handshake.h"
#include "common/log.h"
#include "common/sockets.h"
#include "common/status_macros.h"

namespace pmi_shim::downstream {

// One accepted client and its connection to the target.
class TcpRelay::Pair {
 public:
  // With `identity`, the client's PMIx connect message is rewritten to
  // claim that uid/gid before it reaches the target.
  Pair(TcpRelay& relay, UniqueFd client, UniqueFd target,
       std::optional<std::pair<uint32_t, uint32_t>> identity)
      : relay_(relay), identity_(identity) {
    ends_[0].fd = std::move(client);
    ends_[1].fd = std::move(target);
  }

  absl::Status Watch() {
    for (int side : {0, 1}) {
      RETURN_IF_ERROR(relay_.loop_.Watch(ends_[side].fd.get(), Interest(side),
                                         [this, side](uint32_t events) { OnEvents(side, events); }));
      ends_[side].interest = Interest(side);
    }
    return absl::OkStatus();
  }

  ~Pair() {
    for (End& end : ends_) relay_.loop_.Unwatch(end.fd.get());
  }

 private:
  struct End {
    UniqueFd fd;
    std::string outbox;       // bytes waiting to be written to this end
    bool read_closed = false; // this end sent EOF
    bool write_shut = false;  // we half-closed towards this end
    uint32_t interest = 0;
  };

  // Read from `side` while the other side's outbox has room; write to
  // `side` while its outbox has bytes (the target's first writability also
  // completes its non-blocking connect).
  uint32_t Interest(int side) const {
    const End& end = ends_[side];
    const End& other = ends_[1 - side];
    uint32_t events = 0;
    if (!end.read_closed && other.outbox.size() < relay_.options_.max_buffered_bytes) {
      events |= EPOLLIN;
    }
    if (!end.outbox.empty() || (side == 1 && !connected_)) events |= EPOLLOUT;
    return events;
  }

  void OnEvents(int side, uint32_t events) {
    if (closed_) return;
    if (side == 1 && !connected_ && (events & (EPOLLOUT | EPOLLERR | EPOLLHUP))) {
      int error = 0;
      socklen_t length = sizeof(error);
      ::getsockopt(ends_[1].fd.get(), SOL_SOCKET, SO_ERROR, &error, &length);
      if (error != 0) return Close(absl::StrCat("cannot reach the PMIx server at ",
                                                relay_.options_.target_address, ":",
                                                relay_.options_.target_port, ": ",
                                                std::strerror(error)));
      connected_ = true;
    }
    if (events & (EPOLLIN | EPOLLHUP | EPOLLERR)) Read(side);
    if (closed_) return;
    for (int s : {0, 1}) Flush(s);
    if (closed_) return;
    if (ends_[0].read_closed && ends_[1].read_closed && ends_[0].outbox.empty() &&
        ends_[1].outbox.empty()) {
      return Close("");
    }
    for (int s : {0, 1}) UpdateInterest(s);
  }

  void Read(int side) {
    End& end = ends_[side];
    End& other = ends_[1 - side];
    char buffer[64 * 1024];
    while (!end.read_closed && other.outbox.size() < relay_.options_.max_buffered_bytes) {
      const ssize_t n = ::recv(end.fd.get(), buffer, sizeof(buffer), MSG_DONTWAIT);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
      if (n < 0) return Close(absl::StrCat("relay read failed: ", std::strerror(errno)));
      if (n == 0) {
        end.read_closed = true;
        return;
      }
      if (side == 0 && identity_.has_value()) {
        if (!PassHandshake(absl::string_view(buffer, static_cast<size_t>(n)))) return;
        continue;
      }
      other.outbox.append(buffer, static_cast<size_t>(n));
    }
  }

  // Holds the client's first bytes until its connect message is complete,
  // then forwards it with the identity rewritten (and everything after it
  // as is). False when the pair was closed.
  bool PassHandshake(absl::string_view bytes) {
    handshake_.append(bytes.data(), bytes.size());
    absl::StatusOr<std::optional<size_t>> length = pmix::PmixConnectMessageLength(handshake_);
    if (length.ok() && (!length->has_value() || handshake_.size() < **length)) return true;
    absl::StatusOr<std::string> rewritten =
        length.ok() ? pmix::RewritePmixConnectIdentity(absl::string_view(handshake_).substr(0, **length),
                                                 identity_->first, identity_->second)
                    : absl::StatusOr<std::string>(length.status());
    if (!rewritten.ok()) {
      Close(absl::StrCat("relay: refused a PMIx client: ", rewritten.status().message()));
      return false;
    }
    ends_[1].outbox += *rewritten;
    ends_[1].outbox += handshake_.substr(**length);
    handshake_.clear();
    identity_.reset();  // the rest of the stream passes untouched
    return true;
  }

  void Flush(int side) {
    End& end = ends_[side];
    if (side == 1 && !connected_) return;
    while (!end.outbox.empty()) {
      const ssize_t n = ::send(end.fd.get(), end.outbox.data(), end.outbox.size(), MSG_NOSIGNAL);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
      if (n < 0) return Close(absl::StrCat("relay write failed: ", std::strerror(errno)));
      end.outbox.erase(0, static_cast<size_t>(n));
    }
    // The other side is done and everything reached this one: pass the EOF on.
    if (ends_[1 - side].read_closed && !end.write_shut) {
      ::shutdown(end.fd.get(), SHUT_WR);
      end.write_shut = true;
    }
  }

  void UpdateInterest(int side) {
    const uint32_t wanted = Interest(side);
    if (wanted == ends_[side].interest) return;
    ends_[side].interest = wanted;
    (void)relay_.loop_.Modify(ends_[side].fd.get(), wanted);
  }

  void Close(const std::string& problem) {
    if (closed_) return;
    closed_ = true;
    if (!problem.empty()) log::Warning(problem);
    for (End& end : ends_) relay_.loop_.Unwatch(end.fd.get());
    relay_.Retire(this);
  }

  TcpRelay& relay_;
  std::optional<std::pair<uint32_t, uint32_t>> identity_;
  std::string handshake_;  // the client's connect message, until complete
  End ends_[2];  // [0] the client, [1] the target
  bool connected_ = false;
  bool closed_ = false;
};

TcpRelay::TcpRelay(EventLoop& loop, Options options) : loop_(loop), options_(std::move(options)) {}

absl::StatusOr<std::unique_ptr<TcpRelay>> TcpRelay::Start(EventLoop& loop, Options options) {
  std::unique_ptr<TcpRelay> relay(new TcpRelay(loop, std::move(options)));
  if (relay->options_.listener_fd >= 0) {
    relay->listener_.Reset(std::exchange(relay->options_.listener_fd, -1));
    RETURN_IF_ERROR(SetNonBlocking(relay->listener_.get()));
    sockaddr_storage bound{};
    socklen_t length = sizeof(bound);
    if (::getsockname(relay->listener_.get(), reinterpret_cast<sockaddr*>(&bound), &length) != 0 ||
        (bound.ss_family != AF_INET && bound.ss_family != AF_UNIX)) {
      return absl::InvalidArgumentError("relay: the given listener is neither IPv4 nor Unix");
    }
    if (bound.ss_family == AF_INET) {
      relay->port_ = ntohs(reinterpret_cast<const sockaddr_in*>(&bound)->sin_port);
    }
  } else {
    ASSIGN_OR_RETURN(TcpListener listener,
                     ListenTcp4(relay->options_.listen_address, relay->options_.listen_port));
    relay->listener_ = std::move(listener.fd);
    relay->port_ = listener.port;
  }
  TcpRelay* raw = relay.get();
  RETURN_IF_ERROR(loop.Watch(relay->listener_.get(), EPOLLIN, [raw](uint32_t) { raw->Accept(); }));
  return relay;
}

TcpRelay::~TcpRelay() {
  if (listener_.valid()) loop_.Unwatch(listener_.get());
  if (cleanup_timer_ != 0) loop_.CancelTimer(cleanup_timer_);
  pairs_.clear();
  retired_.clear();
}

void TcpRelay::Accept() {
  while (true) {
    UniqueFd client(::accept4(listener_.get(), nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK));
    if (!client.valid()) {
      if (errno == EINTR) continue;
      return;  // EAGAIN: all accepted; anything else: try again on the next event
    }
    std::optional<std::pair<uint32_t, uint32_t>> identity;
    if (options_.present_peer_identity) {
      absl::StatusOr<ucred> peer = PeerCredentials(client.get());
      if (!peer.ok() || (peer->uid != ::getuid() && peer->uid != 0)) {
        log::Warning(absl::StrCat(
            "relay: refused a PMIx client ",
            peer.ok() ? absl::StrCat("of uid ", peer->uid) : std::string(peer.status().message()),
            "; only the job's own user may connect"));
        continue;
      }
      identity.emplace(peer->uid, peer->gid);
    }
    absl::StatusOr<UniqueFd> target =
        StartConnectTcp4(options_.target_address, options_.target_port);
    if (!target.ok()) {
      log::Warning(absl::StrCat("relay: ", target.status().message()));
      continue;  // closing the client tells it the server is unreachable
    }
    auto pair = std::make_unique<Pair>(*this, std::move(client), *std::move(target), identity);
    Pair* raw = pair.get();
    pairs_[raw] = std::move(pair);
    ++total_;
    if (absl::Status watched = raw->Watch(); !watched.ok()) {
      log::Warning(absl::StrCat("relay: ", watched.message()));
      Retire(raw);
    }
  }
}

void TcpRelay::Retire(Pair* pair) {
  auto node = pairs_.extract(pair);
  if (node.empty()) return;
  // The pair may be inside its own handler: destroy it after this round.
  retired_.push_back(std::move(node.mapped()));
  if (retired_.size() == 1) {
    cleanup_timer_ = loop_.AddTimer(absl::ZeroDuration(), [this] {
      cleanup_timer_ = 0;
      retired_.clear();
    });
  }
}

}  // namespace pmi_shim::downstream
