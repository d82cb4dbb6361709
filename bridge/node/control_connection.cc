#include "bridge/node/control_connection.h"

#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/sockets.h"
#include "common/status_macros.h"

namespace pmi_shim::node {

absl::StatusOr<std::unique_ptr<ControlConnection>> ControlConnection::Start(EventLoop& loop,
                                                                            UniqueFd fd,
                                                                            Events events) {
  RETURN_IF_ERROR(SetNonBlocking(fd.get()));
  std::unique_ptr<ControlConnection> connection(
      new ControlConnection(loop, std::move(fd), std::move(events)));
  ControlConnection* self = connection.get();
  RETURN_IF_ERROR(loop.Watch(self->fd_.get(), EPOLLIN | EPOLLRDHUP,
                             [self](uint32_t ready) { self->OnReady(ready); }));
  return connection;
}

ControlConnection::ControlConnection(EventLoop& loop, UniqueFd fd, Events events)
    : loop_(loop), fd_(std::move(fd)), events_(std::move(events)) {}

ControlConnection::~ControlConnection() {
  *alive_ = false;
  if (fd_.valid()) loop_.Unwatch(fd_.get());
}

void ControlConnection::Send(const Message& message) {
  if (!fd_.valid()) return;
  outbox_ += EncodeFrame(message);
  Flush();
}

void ControlConnection::Flush() {
  while (fd_.valid() && written_ < outbox_.size()) {
    const ssize_t n = ::send(fd_.get(), outbox_.data() + written_, outbox_.size() - written_,
                             MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n > 0) {
      written_ += static_cast<size_t>(n);
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      if (!watching_out_) {
        watching_out_ = true;
        (void)loop_.Modify(fd_.get(), EPOLLIN | EPOLLRDHUP | EPOLLOUT);
      }
      return;
    }
    // Reads will see the end and report it.
    return;
  }
  if (written_ == outbox_.size()) {
    outbox_.clear();
    written_ = 0;
    if (watching_out_ && fd_.valid()) {
      watching_out_ = false;
      (void)loop_.Modify(fd_.get(), EPOLLIN | EPOLLRDHUP);
    }
  }
}

void ControlConnection::OnReady(uint32_t ready) {
  if ((ready & EPOLLOUT) != 0) Flush();
  if ((ready & (EPOLLIN | EPOLLHUP | EPOLLERR | EPOLLRDHUP)) == 0) return;
  std::weak_ptr<bool> alive = alive_;
  char buffer[65536];
  for (;;) {
    const ssize_t n = ::recv(fd_.get(), buffer, sizeof(buffer), MSG_DONTWAIT);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
    if (n <= 0) {
      Close(n == 0 ? "the peer closed the connection" : std::strerror(errno));
      return;
    }
    decoder_.Feed(absl::string_view(buffer, static_cast<size_t>(n)));
    for (;;) {
      absl::StatusOr<std::optional<Message>> next = decoder_.Next();
      if (!next.ok()) {
        Close(std::string(next.status().message()));
        return;
      }
      if (!next->has_value()) break;
      events_.message(**std::move(next));
      if (alive.expired() || !fd_.valid()) return;
    }
  }
}

void ControlConnection::Close(std::string why) {
  if (!fd_.valid()) return;
  loop_.Unwatch(fd_.get());
  fd_.Reset();
  events_.closed(std::move(why));
}

}  // namespace pmi_shim::node
