// The channel's blocking I/O: every wait is a poll() bounded by the
// exchange's deadline and the current reply's timeout, so a silent peer
// cannot hold a handshake forever.
#include "protocol/pmi/call_channel.h"

#include <poll.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <optional>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/status_macros.h"
#include "protocol/pmi/pmi1.h"
#include "protocol/pmi/pmi2.h"

namespace pmi_shim::wire {
namespace {

// Waits until `fd` is ready for `events` or `deadline` passes; false on
// timeout. EINTR is retried.
absl::StatusOr<bool> PollUntil(int fd, short events, absl::Time deadline) {
  while (true) {
    const absl::Duration left = deadline - absl::Now();
    if (left <= absl::ZeroDuration()) return false;
    pollfd p{fd, events, 0};
    const int timeout_ms =
        left == absl::InfiniteDuration()
            ? -1
            : static_cast<int>(absl::ToInt64Milliseconds(absl::Ceil(left, absl::Milliseconds(1))));
    const int ready = ::poll(&p, 1, timeout_ms);
    if (ready > 0) return true;
    if (ready < 0 && errno != EINTR) return absl::ErrnoToStatus(errno, "poll");
  }
}

}  // namespace

std::string Excerpt(const Message& message) {
  std::string text = message.DebugString();
  if (text.size() > 160) text = absl::StrCat(text.substr(0, 160), "...");
  return text;
}

absl::Status CallChannel::Send(const Message& message, Framing framing) {
  if (options_.trace) options_.trace(true, message);
  const std::string bytes =
      framing == Framing::kPmi1Line ? FormatPmi1(message) : FormatPmi2(message);
  size_t sent = 0;
  while (sent < bytes.size()) {
    const ssize_t n = ::send(fd_, bytes.data() + sent, bytes.size() - sent, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      ASSIGN_OR_RETURN(bool ready, PollUntil(fd_, POLLOUT, options_.deadline));
      if (ready) continue;
      errno = ETIMEDOUT;
    }
    if (n < 0) {
      return absl::UnavailableError(absl::StrCat("cannot write ", message.command, " to ",
                                                 options_.peer.name, " (", std::strerror(errno),
                                                 ")"));
    }
    sent += static_cast<size_t>(n);
  }
  reply_deadline_ = absl::Now() + options_.reply_timeout;
  return absl::OkStatus();
}

absl::StatusOr<std::optional<Message>> CallChannel::NextMessage(absl::string_view context) {
  absl::StatusOr<std::optional<Frame>> frame = decoder_.Next();
  if (frame.ok() && frame->has_value()) {
    absl::StatusOr<Message> message = ParseFrame(**frame);
    if (message.ok()) return std::optional<Message>(*std::move(message));
    frame = message.status();
  }
  if (!frame.ok()) {
    return absl::FailedPreconditionError(
        absl::StrCat(options_.peer.name, " answered ", context, " with a malformed message (",
                     frame.status().message(), "); it does not speak PMI as expected"));
  }
  return std::optional<Message>();
}

absl::Status CallChannel::ReadMore(absl::string_view context) {
  const Peer& peer = options_.peer;
  ASSIGN_OR_RETURN(bool ready,
                   PollUntil(fd_, POLLIN, std::min(options_.deadline, reply_deadline_)));
  if (!ready) {
    return absl::DeadlineExceededError(
        absl::StrCat(peer.name, " did not answer ", context, " in time", peer.if_silent));
  }
  char buffer[4096];
  const ssize_t n = ::recv(fd_, buffer, sizeof(buffer), 0);
  if (n < 0 && (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK)) {
    return absl::OkStatus();
  }
  if (n == 0) {
    return absl::UnavailableError(
        absl::StrCat(peer.name, " closed the connection during ", context, peer.if_closed));
  }
  if (n < 0) {
    return absl::UnavailableError(absl::StrCat("reading from ", peer.name, " failed during ",
                                               context, " (", std::strerror(errno), ")"));
  }
  decoder_.Feed(absl::string_view(buffer, static_cast<size_t>(n)));
  return absl::OkStatus();
}

absl::StatusOr<Message> CallChannel::Receive(absl::string_view expected,
                                             absl::string_view context) {
  while (true) {
    ASSIGN_OR_RETURN(std::optional<Message> message, NextMessage(context));
    if (!message.has_value()) {
      RETURN_IF_ERROR(ReadMore(context));
      continue;
    }
    if (options_.trace) options_.trace(false, *message);
    if (message->command == expected) return *std::move(message);
    return absl::FailedPreconditionError(
        absl::StrCat(options_.peer.name, " answered ", context, " with \"", Excerpt(*message),
                     "\" instead of cmd=", expected, options_.peer.if_unexpected));
  }
}

absl::StatusOr<Message> CallChannel::Call(const Message& request, Framing framing) {
  RETURN_IF_ERROR(Send(request, framing));
  const PmiVersion version =
      framing == Framing::kPmi2Record ? PmiVersion::kPmi2 : PmiVersion::kPmi1;
  return Receive(ReplyCommandFor(version, request.command), request.command);
}

absl::StatusOr<Message> CallChannel::Init(PmiVersion version) {
  const bool pmi1 = version == PmiVersion::kPmi1;
  return Call(Message("init").Add("pmi_version", pmi1 ? 1 : 2).Add("pmi_subversion", pmi1 ? 1 : 0),
              Framing::kPmi1Line);
}

}  // namespace pmi_shim::wire
