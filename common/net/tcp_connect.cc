#include "common/net/tcp_connect.h"

#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>

#include <cerrno>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"

namespace pmi_shim::net {
namespace {

// Waits for a non-blocking connect on `fd` to finish before `deadline`.
absl::Status FinishConnect(int fd, absl::Time deadline) {
  while (true) {
    const absl::Duration left = deadline - absl::Now();
    if (left <= absl::ZeroDuration()) return absl::DeadlineExceededError("connect timed out");
    pollfd p{fd, POLLOUT, 0};
    const int ready = ::poll(
        &p, 1,
        static_cast<int>(absl::ToInt64Milliseconds(absl::Ceil(left, absl::Milliseconds(1)))));
    if (ready < 0 && errno == EINTR) continue;
    if (ready < 0) return absl::ErrnoToStatus(errno, "poll");
    if (ready == 0) continue;  // the deadline check above ends it
    int error = 0;
    socklen_t length = sizeof(error);
    if (::getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &length) != 0) error = errno;
    if (error != 0) return absl::ErrnoToStatus(error, "connect");
    return absl::OkStatus();
  }
}

absl::StatusOr<UniqueFd> ConnectAddress(const addrinfo& address, absl::Time deadline) {
  UniqueFd fd(::socket(address.ai_family, address.ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK,
                       address.ai_protocol));
  if (!fd.valid()) return absl::ErrnoToStatus(errno, "socket");
  if (::connect(fd.get(), address.ai_addr, address.ai_addrlen) != 0) {
    if (errno != EINPROGRESS) return absl::ErrnoToStatus(errno, "connect");
    absl::Status finished = FinishConnect(fd.get(), deadline);
    if (!finished.ok()) return finished;
  }
  const int one = 1;
  ::setsockopt(fd.get(), IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  return fd;
}

}  // namespace

absl::StatusOr<UniqueFd> ConnectTcp(const std::string& host, int port, absl::Time deadline) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  const std::string service = absl::StrCat(port);
  if (const int rc = ::getaddrinfo(host.c_str(), service.c_str(), &hints, &found); rc != 0) {
    return absl::UnavailableError(
        absl::StrCat("cannot resolve ", host, " (", ::gai_strerror(rc), ")"));
  }
  absl::Status last = absl::UnavailableError("no address");
  for (const addrinfo* address = found; address != nullptr; address = address->ai_next) {
    absl::StatusOr<UniqueFd> fd = ConnectAddress(*address, deadline);
    if (fd.ok()) {
      ::freeaddrinfo(found);
      return fd;
    }
    last = fd.status();
  }
  ::freeaddrinfo(found);
  if (absl::IsDeadlineExceeded(last)) {
    return absl::DeadlineExceededError(absl::StrCat("connect to ", host, ":", port, " timed out"));
  }
  return absl::UnavailableError(
      absl::StrCat("cannot connect to ", host, ":", port, " (", last.message(), ")"));
}

}  // namespace pmi_shim::net
