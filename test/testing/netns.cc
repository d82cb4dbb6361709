// Private network namespace for end-to-end tests; see netns.h.
#include "test/testing/netns.h"

#include <net/if.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "common/unique_fd.h"

namespace pmi_shim::testutil {
namespace {

absl::Status& RecordedStatus() {
  static absl::Status* status =
      new absl::Status(absl::UnknownError("EnterPrivateNetworkNamespace() was not called"));
  return *status;
}

}  // namespace

absl::Status EnterPrivateNetworkNamespace() {
  if (unshare(CLONE_NEWNET) != 0) {
    int err = errno;
    return absl::ErrnoToStatus(err,
                               "unshare(CLONE_NEWNET) (needs CAP_SYS_ADMIN, e.g. run as root)");
  }
  // A new namespace has `lo` but down: without it even 127.0.0.1 is
  // unreachable. Any socket in the namespace can carry the ioctls.
  UniqueFd sock(socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  if (!sock.valid()) {
    int err = errno;
    return absl::ErrnoToStatus(err, "socket(AF_INET) in the new namespace");
  }
  ifreq req;
  memset(&req, 0, sizeof(req));
  strncpy(req.ifr_name, "lo", IFNAMSIZ - 1);
  if (ioctl(sock.get(), SIOCGIFFLAGS, &req) != 0) {
    int err = errno;
    return absl::ErrnoToStatus(err, "ioctl(SIOCGIFFLAGS, lo)");
  }
  req.ifr_flags |= IFF_UP | IFF_RUNNING;
  if (ioctl(sock.get(), SIOCSIFFLAGS, &req) != 0) {
    int err = errno;
    return absl::ErrnoToStatus(err, "ioctl(SIOCSIFFLAGS, lo, IFF_UP)");
  }
  return absl::OkStatus();
}

absl::Status NetnsStatus() { return RecordedStatus(); }

void SetNetnsStatus(absl::Status status) { RecordedStatus() = std::move(status); }

}  // namespace pmi_shim::testutil
