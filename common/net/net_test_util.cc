#include "common/net/net_test_util.h"

#include <gtest/gtest.h>
#include <sys/socket.h>

#include <cerrno>

#include "test/testing/status_matchers.h"

namespace pmi_shim::net::testing {

std::pair<UniqueFd, UniqueFd> SocketPair() {
  int fds[2] = {-1, -1};
  EXPECT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds), 0);
  return {UniqueFd(fds[0]), UniqueFd(fds[1])};
}

void ShrinkBuffers(int fd) {
  const int size = 4096;
  ::setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &size, sizeof(size));
  ::setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof(size));
}

bool RunUntil(EventLoop& loop, const std::function<bool()>& done, absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  bool held = false;  // done() may have effects (reads, reaping): call it once per tick
  std::function<void()> check = [&] {
    held = done();
    if (held || absl::Now() > deadline) {
      loop.Stop();
      return;
    }
    loop.AddTimer(absl::Milliseconds(1), check);
  };
  loop.AddTimer(absl::ZeroDuration(), check);
  EXPECT_OK(loop.Run());
  return held;
}

void RunFor(EventLoop& loop, absl::Duration duration) {
  const absl::Time until = absl::Now() + duration;
  RunUntil(
      loop, [until] { return absl::Now() >= until; }, duration + absl::Seconds(1));
}

std::string ReadNow(int fd, bool* eof) {
  std::string bytes;
  char buffer[65536];
  while (true) {
    const ssize_t n = ::recv(fd, buffer, sizeof(buffer), MSG_DONTWAIT);
    if (n > 0) {
      bytes.append(buffer, static_cast<size_t>(n));
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (eof != nullptr && (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK))) *eof = true;
    return bytes;
  }
}

size_t WriteNow(int fd, absl::string_view bytes) {
  size_t written = 0;
  while (written < bytes.size()) {
    const ssize_t n =
        ::send(fd, bytes.data() + written, bytes.size() - written, MSG_DONTWAIT | MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    written += static_cast<size_t>(n);
  }
  return written;
}

std::string Pattern(size_t size) {
  std::string bytes(size, '\0');
  for (size_t i = 0; i < size; ++i) bytes[i] = static_cast<char>((i * 131 + i / 251) % 253);
  return bytes;
}

}  // namespace pmi_shim::net::testing
