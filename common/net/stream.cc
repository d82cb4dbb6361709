#include "common/net/stream.h"

#include <sys/epoll.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstring>
#include <utility>

#include "absl/strings/str_cat.h"

namespace pmi_shim::net {

std::string Stream::Error::Describe() const {
  const char* what = operation == Operation::kConnect ? "connect"
                     : operation == Operation::kRead  ? "read"
                                                      : "write";
  return absl::StrCat(what, " failed (", std::strerror(error_number), ")");
}

absl::StatusOr<std::unique_ptr<Stream>> Stream::Start(EventLoop& loop, UniqueFd fd,
                                                      Handlers handlers, State state) {
  std::unique_ptr<Stream> stream(new Stream(loop, std::move(fd), std::move(handlers), state));
  const uint32_t wanted = stream->connected_ ? EPOLLIN : EPOLLOUT;
  Stream* raw = stream.get();
  absl::Status watched =
      loop.Watch(raw->fd_.get(), wanted, [raw](uint32_t events) { raw->OnEvents(events); });
  if (!watched.ok()) return watched;
  raw->watched_ = true;
  raw->interest_ = wanted;
  return stream;
}

Stream::Stream(EventLoop& loop, UniqueFd fd, Handlers handlers, State state)
    : loop_(loop),
      fd_(std::move(fd)),
      handlers_(std::move(handlers)),
      connected_(state == State::kConnected) {}

Stream::~Stream() {
  *alive_ = false;
  Close();
}

void Stream::Close() {
  if (!fd_.valid()) return;
  if (watched_) loop_.Unwatch(fd_.get());
  watched_ = false;
  fd_.Reset();
  outbox_.clear();
}

void Stream::OnEvents(uint32_t events) {
  std::shared_ptr<bool> alive = alive_;
  if (events & EPOLLHUP) hung_up_ = true;
  if (!connected_) {
    if (events & (EPOLLOUT | EPOLLERR | EPOLLHUP)) FinishConnect();
    return;
  }
  if (events & (EPOLLIN | EPOLLHUP | EPOLLERR)) {
    if (reading_ && !eof_) {
      ReadAvailable();
    } else if (events & EPOLLERR) {
      // Not reading (paused, or at end-of-stream), so no recv will report
      // the error: take it from the socket, or epoll repeats it forever.
      int error = 0;
      socklen_t length = sizeof(error);
      ::getsockopt(fd_.get(), SOL_SOCKET, SO_ERROR, &error, &length);
      if (error != 0) return Fail(Error::Operation::kRead, error);
    }
  }
  if (!*alive || !fd_.valid()) return;
  if (events & EPOLLOUT) {
    const bool had_bytes = !outbox_.empty();
    Flush();
    if (!*alive || !fd_.valid()) return;
    if (had_bytes && outbox_.empty() && handlers_.on_drained) handlers_.on_drained();
    if (!*alive || !fd_.valid()) return;
  }
  UpdateInterest();
}

void Stream::FinishConnect() {
  int error = 0;
  socklen_t length = sizeof(error);
  if (::getsockopt(fd_.get(), SOL_SOCKET, SO_ERROR, &error, &length) != 0) error = errno;
  if (error != 0) return Fail(Error::Operation::kConnect, error);
  connected_ = true;
  std::shared_ptr<bool> alive = alive_;
  if (handlers_.on_connected) handlers_.on_connected();
  if (!*alive || !fd_.valid()) return;
  // Bytes queued while connecting waited like bytes the socket pushed back:
  // whoever paused for them must hear that they left.
  const bool had_bytes = !outbox_.empty();
  Flush();
  if (!*alive || !fd_.valid()) return;
  if (had_bytes && outbox_.empty() && handlers_.on_drained) handlers_.on_drained();
  if (!*alive || !fd_.valid()) return;
  UpdateInterest();
}

void Stream::ReadAvailable() {
  std::shared_ptr<bool> alive = alive_;
  char buffer[64 * 1024];
  while (*alive && fd_.valid() && connected_ && reading_ && !eof_) {
    const ssize_t n = ::recv(fd_.get(), buffer, sizeof(buffer), MSG_DONTWAIT);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
    if (n < 0) return Fail(Error::Operation::kRead, errno);
    if (n == 0) {
      eof_ = true;
      UpdateInterest();
      if (fd_.valid() && handlers_.on_eof) handlers_.on_eof();
      return;
    }
    if (handlers_.on_data) {
      handlers_.on_data(absl::string_view(buffer, static_cast<size_t>(n)));
    }
  }
}

void Stream::Write(absl::string_view bytes) {
  if (!fd_.valid() || shutdown_wanted_ || bytes.empty()) return;
  outbox_.append(bytes.data(), bytes.size());
  if (!connected_) return;  // sent once the connect completes
  std::shared_ptr<bool> alive = alive_;
  Flush();
  if (*alive && fd_.valid()) UpdateInterest();
}

void Stream::ShutdownWrite() {
  if (!fd_.valid() || shutdown_wanted_) return;
  shutdown_wanted_ = true;
  if (!connected_) return;
  std::shared_ptr<bool> alive = alive_;
  Flush();
  if (*alive && fd_.valid()) UpdateInterest();
}

void Stream::Flush() {
  while (!outbox_.empty()) {
    const ssize_t n =
        ::send(fd_.get(), outbox_.data(), outbox_.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
    if (n < 0) return Fail(Error::Operation::kWrite, errno);
    outbox_.erase(0, static_cast<size_t>(n));
  }
  if (shutdown_wanted_ && !write_shut_) {
    ::shutdown(fd_.get(), SHUT_WR);
    write_shut_ = true;
  }
}

void Stream::PauseReading() {
  if (!reading_) return;
  reading_ = false;
  if (fd_.valid()) UpdateInterest();
}

void Stream::ResumeReading() {
  if (reading_) return;
  reading_ = true;
  if (fd_.valid()) UpdateInterest();
}

void Stream::Fail(Error::Operation operation, int error_number) {
  Close();
  if (handlers_.on_error) handlers_.on_error(Error{operation, error_number});
}

void Stream::UpdateInterest() {
  uint32_t wanted = 0;
  if (!connected_ || !outbox_.empty()) wanted |= EPOLLOUT;
  if (connected_ && reading_ && !eof_) wanted |= EPOLLIN;
  if (hung_up_ && wanted == 0) {
    if (watched_) loop_.Unwatch(fd_.get());
    watched_ = false;
    return;
  }
  if (!watched_) {
    if (!loop_.Watch(fd_.get(), wanted, [this](uint32_t e) { OnEvents(e); }).ok()) {
      return Fail(Error::Operation::kRead, errno);  // epoll_ctl's
    }
    watched_ = true;
  } else if (wanted != interest_) {
    (void)loop_.Modify(fd_.get(), wanted);
  }
  interest_ = wanted;
}

}  // namespace pmi_shim::net
