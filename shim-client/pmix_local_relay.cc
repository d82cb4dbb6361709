#include "shim-client/pmix_local_relay.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <memory>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/event_loop.h"
#include "common/net/connector.h"
#include "common/net/relay_server.h"
#include "common/sockets.h"
#include "common/unique_fd.h"

namespace pmi_shim::shim_client {
namespace {

// Per direction: when the far side does not drain, stop reading the near one.
constexpr size_t kMaxBuffered = 256 * 1024;

// The relay child's life: an event loop that relays every client of
// `listener` to `unix_path` until the rank dies (PR_SET_PDEATHSIG). A
// client whose pmix.sock connect fails is closed, which it reports itself;
// the relay says nothing on the application's stderr.
[[noreturn]] void RunRelay(UniqueFd listener, const std::string& unix_path) {
  EventLoop loop;
  net::RelayServer::Options options;
  options.connector = net::UnixConnector(unix_path);
  options.description = "the in-container PMIx relay";
  options.relay_options = [](const net::Acceptor::Client&) {
    net::ByteRelay::Options relay;
    relay.max_buffered_bytes = kMaxBuffered;
    return relay;
  };
  options.on_relay_done = [](const absl::Status&) {};
  absl::StatusOr<std::unique_ptr<net::RelayServer>> relay =
      net::RelayServer::Start(loop, std::move(listener), std::move(options));
  if (!relay.ok() || !loop.Run().ok()) _exit(1);
  _exit(0);
}

}  // namespace

absl::Status ProbeTcp4(const std::string& host, int port, absl::Duration timeout) {
  absl::StatusOr<UniqueFd> fd = StartConnectTcp4(host, port);
  if (!fd.ok()) return fd.status();
  pollfd p{fd->get(), POLLOUT, 0};
  int ready;
  do {
    ready = ::poll(&p, 1, static_cast<int>(absl::ToInt64Milliseconds(timeout)));
  } while (ready < 0 && errno == EINTR);
  if (ready == 0) {
    return absl::DeadlineExceededError(absl::StrCat("no answer from ", host, ":", port));
  }
  int error = 0;
  socklen_t length = sizeof(error);
  ::getsockopt(fd->get(), SOL_SOCKET, SO_ERROR, &error, &length);
  if (ready < 0) error = errno;
  if (error != 0) return absl::ErrnoToStatus(error, absl::StrCat("connect to ", host, ":", port));
  return absl::OkStatus();
}

absl::StatusOr<LocalRelay> StartLocalPmixRelay(const std::string& unix_path) {
  absl::StatusOr<TcpListener> listener = ListenTcp4("127.0.0.1", 0);
  if (!listener.ok()) return listener.status();
  const pid_t parent = ::getpid();
  const pid_t pid = ::fork();
  if (pid < 0) return absl::ErrnoToStatus(errno, "fork of the PMIx relay");
  if (pid == 0) {
    // Dies with the rank: the parent execs the application, which keeps its pid.
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != parent) _exit(0);
    ::signal(SIGPIPE, SIG_IGN);
    // The application's stdout may be a pipe someone waits on to close.
    const int null_fd = ::open("/dev/null", O_RDWR | O_CLOEXEC);
    if (null_fd >= 0) {
      ::dup2(null_fd, STDIN_FILENO);
      ::dup2(null_fd, STDOUT_FILENO);
    }
    RunRelay(std::move(listener->fd), unix_path);
  }
  return LocalRelay{listener->port, pid};
}

}  // namespace pmi_shim::shim_client
