#include "common/net/connector.h"

#include <sys/socket.h>
#include <sys/un.h>

#include <cerrno>
#include <cstring>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/sockets.h"

namespace pmi_shim::net {

absl::StatusOr<UniqueFd> ConnectUnix(const std::string& path) {
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  if (path.size() >= sizeof(address.sun_path)) {
    return absl::InvalidArgumentError(absl::StrCat("Unix socket path longer than ",
                                                   sizeof(address.sun_path) - 1, " bytes: ", path));
  }
  std::memcpy(address.sun_path, path.c_str(), path.size() + 1);
  UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!fd.valid()) return absl::ErrnoToStatus(errno, "socket(AF_UNIX)");
  int rc;
  do {
    rc = ::connect(fd.get(), reinterpret_cast<const sockaddr*>(&address), sizeof(address));
  } while (rc != 0 && errno == EINTR);
  if (rc != 0) return absl::ErrnoToStatus(errno, absl::StrCat("connect to ", path));
  return fd;
}

Connector TcpConnector(std::string address, int port, std::string description) {
  Connector connector;
  connector.description =
      description.empty() ? absl::StrCat(address, ":", port) : std::move(description);
  connector.connect = [address = std::move(address), port] {
    return StartConnectTcp4(address, port);
  };
  connector.state = Stream::State::kConnecting;
  return connector;
}

Connector UnixConnector(std::string path, std::string description) {
  Connector connector;
  connector.description = description.empty() ? path : std::move(description);
  connector.connect = [path = std::move(path)] { return ConnectUnix(path); };
  return connector;
}

}  // namespace pmi_shim::net
