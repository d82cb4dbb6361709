#include "hook/apply/netns_listener.h"

#include <fcntl.h>
#include <net/if.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "common/sockets.h"
#include "common/status_macros.h"

namespace pmi_shim::hook {

absl::Status BringLoopbackUp() {
  UniqueFd probe(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  if (!probe.valid()) return absl::ErrnoToStatus(errno, "socket(AF_INET) in the container's netns");
  ifreq request{};
  std::strncpy(request.ifr_name, "lo", IFNAMSIZ - 1);
  if (::ioctl(probe.get(), SIOCGIFFLAGS, &request) != 0) {
    return absl::ErrnoToStatus(errno, "SIOCGIFFLAGS lo in the container's netns");
  }
  if (request.ifr_flags & IFF_UP) return absl::OkStatus();
  request.ifr_flags |= IFF_UP;
  if (::ioctl(probe.get(), SIOCSIFFLAGS, &request) != 0) {
    return absl::ErrnoToStatus(errno, "cannot bring lo up in the container's netns");
  }
  return absl::OkStatus();
}

absl::StatusOr<UniqueFd> ListenInNetns(const std::string& netns_path, const std::string& address,
                                       int port) {
  UniqueFd home(::open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC));
  if (!home.valid()) return absl::ErrnoToStatus(errno, "cannot open this thread's netns");
  UniqueFd there(::open(netns_path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!there.valid()) {
    return absl::ErrnoToStatus(errno,
                               absl::StrCat("cannot open the container's netns ", netns_path));
  }
  if (::setns(there.get(), CLONE_NEWNET) != 0) {
    return absl::ErrnoToStatus(errno, absl::StrCat("cannot enter the netns ", netns_path));
  }
  const absl::Status up = BringLoopbackUp();
  absl::StatusOr<TcpListener> listener =
      up.ok() ? ListenTcp4(address, port) : absl::StatusOr<TcpListener>(up);
  // Back home whatever happened: every later socket must be the host's.
  if (::setns(home.get(), CLONE_NEWNET) != 0) {
    // Staying in the container's netns would connect to the wrong server.
    return absl::ErrnoToStatus(errno, "cannot return to the host's netns");
  }
  if (!listener.ok()) {
    return absl::Status(listener.status().code(),
                        absl::StrCat("in the container's netns: ", listener.status().message()));
  }
  return std::move(listener->fd);
}

}  // namespace pmi_shim::hook
