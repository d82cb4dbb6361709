#include "common/sockets.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"

namespace pmi_shim {
namespace {

absl::StatusOr<sockaddr_in> Ipv4Address(const std::string& address, int port) {
  sockaddr_in in{};
  in.sin_family = AF_INET;
  in.sin_port = htons(static_cast<uint16_t>(port));
  if (port < 0 || port > 65535 || ::inet_pton(AF_INET, address.c_str(), &in.sin_addr) != 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("not an IPv4 address and port: ", address, ":", port));
  }
  return in;
}

}  // namespace

absl::Status SetNonBlocking(int fd) {
  const int flags = ::fcntl(fd, F_GETFL);
  if (flags < 0 || ::fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0) {
    return absl::ErrnoToStatus(errno, absl::StrCat("fcntl(O_NONBLOCK) on fd ", fd));
  }
  return absl::OkStatus();
}

absl::StatusOr<TcpListener> ListenTcp4(const std::string& address, int port) {
  absl::StatusOr<sockaddr_in> in = Ipv4Address(address, port);
  if (!in.ok()) return in.status();
  TcpListener listener;
  listener.fd.Reset(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  if (!listener.fd.valid()) return absl::ErrnoToStatus(errno, "socket(AF_INET)");
  const int one = 1;
  ::setsockopt(listener.fd.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  if (::bind(listener.fd.get(), reinterpret_cast<const sockaddr*>(&*in), sizeof(*in)) != 0) {
    return absl::ErrnoToStatus(errno, absl::StrCat("bind ", address, ":", port));
  }
  if (::listen(listener.fd.get(), SOMAXCONN) != 0) {
    return absl::ErrnoToStatus(errno, absl::StrCat("listen on ", address, ":", port));
  }
  sockaddr_in bound{};
  socklen_t length = sizeof(bound);
  ::getsockname(listener.fd.get(), reinterpret_cast<sockaddr*>(&bound), &length);
  listener.port = ntohs(bound.sin_port);
  return listener;
}

absl::StatusOr<UniqueFd> StartConnectTcp4(const std::string& address, int port) {
  absl::StatusOr<sockaddr_in> in = Ipv4Address(address, port);
  if (!in.ok()) return in.status();
  UniqueFd fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  if (!fd.valid()) return absl::ErrnoToStatus(errno, "socket(AF_INET)");
  const int one = 1;
  ::setsockopt(fd.get(), IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  if (::connect(fd.get(), reinterpret_cast<const sockaddr*>(&*in), sizeof(*in)) != 0 &&
      errno != EINPROGRESS) {
    return absl::ErrnoToStatus(errno, absl::StrCat("connect to ", address, ":", port));
  }
  return fd;
}

absl::StatusOr<UniqueFd> ListenUnix(const std::string& path) {
  sockaddr_un un{};
  un.sun_family = AF_UNIX;
  if (path.size() >= sizeof(un.sun_path)) {
    return absl::InvalidArgumentError(
        absl::StrCat("Unix socket path longer than ", sizeof(un.sun_path) - 1, " bytes: ", path));
  }
  std::memcpy(un.sun_path, path.c_str(), path.size() + 1);
  UniqueFd listener(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  if (!listener.valid()) return absl::ErrnoToStatus(errno, "socket(AF_UNIX)");
  if (::bind(listener.get(), reinterpret_cast<sockaddr*>(&un), sizeof(un)) != 0) {
    return absl::ErrnoToStatus(errno, absl::StrCat("bind ", path));
  }
  if (::listen(listener.get(), SOMAXCONN) != 0) {
    const int error = errno;
    ::unlink(path.c_str());
    return absl::ErrnoToStatus(error, absl::StrCat("listen on ", path));
  }
  return listener;
}

absl::StatusOr<ucred> PeerCredentials(int fd) {
  ucred credentials{};
  socklen_t length = sizeof(credentials);
  if (::getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &credentials, &length) != 0) {
    return absl::ErrnoToStatus(errno, "getsockopt(SO_PEERCRED)");
  }
  return credentials;
}

}  // namespace pmi_shim
