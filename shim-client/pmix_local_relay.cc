#include "shim-client/pmix_local_relay.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <list>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/sockets.h"
#include "common/unique_fd.h"

namespace pmi_shim::shim_client {
namespace {

// Per direction: when the far side does not drain, stop reading the near one.
constexpr size_t kMaxBuffered = 256 * 1024;

UniqueFd ConnectUnixNonBlocking(const std::string& path) {
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  if (path.size() >= sizeof(address.sun_path)) return UniqueFd();
  std::memcpy(address.sun_path, path.c_str(), path.size() + 1);
  UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!fd.valid()) return UniqueFd();
  if (::connect(fd.get(), reinterpret_cast<const sockaddr*>(&address), sizeof(address)) != 0) {
    return UniqueFd();
  }
  if (!SetNonBlocking(fd.get()).ok()) return UniqueFd();
  return fd;
}

// One direction of a connection: bytes read from `from`, not yet written to `to`.
struct Flow {
  std::string pending;
  bool eof = false;       // `from` said end-of-stream
  bool shut_down = false;  // `to` got the half-close
};

struct Pair {
  UniqueFd tcp;
  UniqueFd local;  // to pmix.sock
  Flow up;         // tcp -> local
  Flow down;       // local -> tcp
  bool broken = false;
};

// Reads what `from` has (up to the cap). False on a hard error.
bool Fill(int from, Flow& flow) {
  char buffer[16384];
  while (!flow.eof && flow.pending.size() < kMaxBuffered) {
    const ssize_t n = ::read(from, buffer, sizeof(buffer));
    if (n > 0) {
      flow.pending.append(buffer, static_cast<size_t>(n));
    } else if (n == 0) {
      flow.eof = true;
    } else if (errno == EINTR) {
      continue;
    } else {
      return errno == EAGAIN || errno == EWOULDBLOCK;
    }
  }
  return true;
}

// Writes what it can to `to`, then passes on a half-close. False on error.
bool Drain(int to, Flow& flow) {
  while (!flow.pending.empty()) {
    const ssize_t n = ::send(to, flow.pending.data(), flow.pending.size(), MSG_NOSIGNAL);
    if (n > 0) {
      flow.pending.erase(0, static_cast<size_t>(n));
    } else if (n < 0 && errno == EINTR) {
      continue;
    } else {
      return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
    }
  }
  if (flow.eof && !flow.shut_down) {
    ::shutdown(to, SHUT_WR);
    flow.shut_down = true;
  }
  return true;
}

short Interest(const Flow& in, const Flow& out) {
  short events = 0;
  if (!in.eof && in.pending.size() < kMaxBuffered) events |= POLLIN;
  if (!out.pending.empty()) events |= POLLOUT;
  return events;
}

[[noreturn]] void RunRelay(int listener, const std::string& unix_path) {
  std::list<Pair> pairs;
  std::vector<pollfd> fds;
  while (true) {
    fds.clear();
    fds.push_back({listener, POLLIN, 0});
    for (Pair& pair : pairs) {
      fds.push_back({pair.tcp.get(), Interest(pair.up, pair.down), 0});
      fds.push_back({pair.local.get(), Interest(pair.down, pair.up), 0});
    }
    if (::poll(fds.data(), fds.size(), -1) < 0) {
      if (errno == EINTR) continue;
      _exit(1);
    }
    size_t index = 1;
    for (Pair& pair : pairs) {
      const short tcp_events = fds[index++].revents;
      const short local_events = fds[index++].revents;
      const short wake = POLLIN | POLLHUP | POLLERR;
      if ((tcp_events & wake) && !Fill(pair.tcp.get(), pair.up)) pair.broken = true;
      if ((local_events & wake) && !Fill(pair.local.get(), pair.down)) pair.broken = true;
      if (!Drain(pair.local.get(), pair.up) || !Drain(pair.tcp.get(), pair.down)) pair.broken = true;
      // An error with nothing left to read or write: the peer is gone.
      if (((tcp_events | local_events) & POLLERR) && pair.up.pending.empty() &&
          pair.down.pending.empty()) {
        pair.broken = true;
      }
    }
    pairs.remove_if([](const Pair& pair) {
      return pair.broken || (pair.up.shut_down && pair.down.shut_down);
    });
    if (fds[0].revents & POLLIN) {
      while (true) {
        UniqueFd tcp(::accept4(listener, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC));
        if (!tcp.valid()) break;
        UniqueFd local = ConnectUnixNonBlocking(unix_path);
        if (!local.valid()) continue;  // the client sees a reset and reports it
        Pair pair;
        pair.tcp = std::move(tcp);
        pair.local = std::move(local);
        pairs.push_back(std::move(pair));
      }
    }
  }
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
    RunRelay(listener->fd.get(), unix_path);
  }
  return LocalRelay{listener->port, pid};
}

}  // namespace pmi_shim::shim_client
