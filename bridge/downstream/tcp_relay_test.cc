// TcpRelay between a blocking client thread and an echo server on the same
// EventLoop: bytes arrive intact and in order, large transfers survive the
// bounded buffers, EOF travels through, and an unreachable target closes.
#include "bridge/downstream/tcp_relay.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <functional>
#include <string>
#include <thread>

#include "common/sockets.h"
#include "test/testing/status_matchers.h"

namespace pmi_shim::downstream {
namespace {

int ConnectBlocking(int port) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in in{};
  in.sin_family = AF_INET;
  in.sin_port = htons(port);
  in.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  EXPECT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&in), sizeof(in)), 0);
  return fd;
}

// An echo server that upper-cases nothing: it returns what it got, then
// closes its side when the peer half-closed.
class EchoServer {
 public:
  explicit EchoServer(EventLoop& loop) : loop_(loop) {
    absl::StatusOr<TcpListener> listener = ListenTcp4("127.0.0.1", 0);
    EXPECT_OK(listener);
    listener_ = std::move(listener->fd);
    port_ = listener->port;
    EXPECT_OK(loop_.Watch(listener_.get(), EPOLLIN, [this](uint32_t) { Accept(); }));
  }
  ~EchoServer() {
    loop_.Unwatch(listener_.get());
    if (conn_.valid()) loop_.Unwatch(conn_.get());
  }
  int port() const { return port_; }

 private:
  void Accept() {
    conn_.Reset(::accept4(listener_.get(), nullptr, nullptr, SOCK_NONBLOCK));
    ASSERT_TRUE(conn_.valid());
    ASSERT_OK(loop_.Watch(conn_.get(), EPOLLIN, [this](uint32_t) { Echo(); }));
  }
  void Echo() {
    char buffer[4096];
    ssize_t n = ::recv(conn_.get(), buffer, sizeof(buffer), 0);
    if (n > 0) {
      size_t sent = 0;
      while (sent < static_cast<size_t>(n)) {  // small test writes: blocking is fine
        ssize_t w = ::send(conn_.get(), buffer + sent, n - sent, MSG_NOSIGNAL);
        if (w > 0) sent += w;
      }
    } else if (n == 0) {
      ::shutdown(conn_.get(), SHUT_WR);
      loop_.Unwatch(conn_.get());
    }
  }
  EventLoop& loop_;
  UniqueFd listener_, conn_;
  int port_ = 0;
};

void RunWithClient(EventLoop& loop, std::function<void()> client) {
  std::thread thread([&] {
    client();
    loop.Post([&] { loop.Stop(); });
  });
  loop.AddTimer(absl::Seconds(30), [&] { loop.Stop(); });
  ASSERT_OK(loop.Run());
  thread.join();
}

TEST(TcpRelayTest, BytesGoThroughBothWaysUntilEof) {
  EventLoop loop;
  EchoServer echo(loop);
  TcpRelay::Options options;
  options.target_port = echo.port();
  options.max_buffered_bytes = 4096;  // force back-pressure on the big transfer
  absl::StatusOr<std::unique_ptr<TcpRelay>> relay = TcpRelay::Start(loop, options);
  ASSERT_OK(relay);
  std::string sent(3 << 20, '\0');
  for (size_t i = 0; i < sent.size(); ++i) sent[i] = static_cast<char>(i * 131 % 251);
  std::string received;
  RunWithClient(loop, [&] {
    int fd = ConnectBlocking((*relay)->port());
    std::thread writer([&] {
      size_t off = 0;
      while (off < sent.size()) {
        ssize_t n = ::send(fd, sent.data() + off, std::min<size_t>(65536, sent.size() - off), 0);
        ASSERT_GT(n, 0);
        off += n;
      }
      ::shutdown(fd, SHUT_WR);
    });
    char buffer[65536];
    ssize_t n;
    while ((n = ::recv(fd, buffer, sizeof(buffer), 0)) > 0) received.append(buffer, n);
    writer.join();
    ::close(fd);
  });
  EXPECT_EQ(received.size(), sent.size());
  EXPECT_TRUE(received == sent) << "relayed bytes differ";
  EXPECT_EQ((*relay)->total_connections(), 1u);
}

TEST(TcpRelayTest, UnreachableTargetClosesTheClient) {
  EventLoop loop;
  absl::StatusOr<TcpListener> dead = ListenTcp4("127.0.0.1", 0);
  ASSERT_OK(dead);
  const int dead_port = dead->port;
  dead->fd.Reset();  // nothing listens there any more
  TcpRelay::Options options;
  options.target_port = dead_port;
  absl::StatusOr<std::unique_ptr<TcpRelay>> relay = TcpRelay::Start(loop, options);
  ASSERT_OK(relay);
  ssize_t got = 1;
  RunWithClient(loop, [&] {
    int fd = ConnectBlocking((*relay)->port());
    char c;
    got = ::recv(fd, &c, 1, 0);
    ::close(fd);
  });
  EXPECT_LE(got, 0) << "the client must see the far side is gone";
}

// The hook makes the listener inside a container's network namespace and
// hands it over: the relay serves that socket, not a new one.
TEST(TcpRelayTest, ServesAPreMadeListener) {
  EventLoop loop;
  EchoServer echo(loop);
  absl::StatusOr<TcpListener> made = ListenTcp4("127.0.0.1", 0);
  ASSERT_OK(made);
  const int made_port = made->port;
  TcpRelay::Options options;
  options.listen_port = 1;  // ignored: the given listener wins
  options.listener_fd = made->fd.Release();
  options.target_port = echo.port();
  absl::StatusOr<std::unique_ptr<TcpRelay>> relay = TcpRelay::Start(loop, options);
  ASSERT_OK(relay);
  EXPECT_EQ((*relay)->port(), made_port);
  std::string received;
  RunWithClient(loop, [&] {
    int fd = ConnectBlocking(made_port);
    ASSERT_EQ(::send(fd, "token", 5, 0), 5);
    ::shutdown(fd, SHUT_WR);
    char buffer[64];
    ssize_t n;
    while ((n = ::recv(fd, buffer, sizeof(buffer), 0)) > 0) received.append(buffer, n);
    ::close(fd);
  });
  EXPECT_EQ(received, "token");
  EXPECT_EQ((*relay)->total_connections(), 1u);
}

TEST(TcpRelayTest, RejectsAPreMadeListenerOfAnotherFamily) {
  EventLoop loop;
  const int ipv6 = ::socket(AF_INET6, SOCK_STREAM, 0);
  ASSERT_GE(ipv6, 0);
  TcpRelay::Options options;
  options.listener_fd = ipv6;  // owned by Start from here on
  options.target_port = 1;
  absl::StatusOr<std::unique_ptr<TcpRelay>> relay = TcpRelay::Start(loop, options);
  EXPECT_FALSE(relay.ok());
  EXPECT_EQ(::fcntl(ipv6, F_GETFD), -1) << "Start must close the listener it was given";
}

// A PMIx client in a user namespace writes its namespace's ids into its
// connect message; through pmix.sock the server sees the ids the kernel
// gives the client on this side.
TEST(TcpRelayTest, UnixClientsArePresentedWithTheirKernelIdentity) {
  EventLoop loop;
  EchoServer echo(loop);
  char dir[] = "/tmp/relay-identity-XXXXXX";
  ASSERT_NE(::mkdtemp(dir), nullptr);
  const std::string path = std::string(dir) + "/pmix.sock";
  absl::StatusOr<UniqueFd> listener = ListenUnix(path);
  ASSERT_OK(listener);
  TcpRelay::Options options;
  options.listener_fd = listener->Release();
  options.target_port = echo.port();
  options.present_peer_identity = true;
  absl::StatusOr<std::unique_ptr<TcpRelay>> relay = TcpRelay::Start(loop, options);
  ASSERT_OK(relay);
  auto u32 = [](uint32_t value) { return std::string(reinterpret_cast<const char*>(&value), 4); };
  auto connect_message = [&](uint32_t uid, uint32_t gid) {
    std::string payload = std::string("native\0", 7) + u32(htonl(8)) + u32(uid) + u32(gid) +
                          std::string("\0ns\0", 4) + u32(0) +
                          std::string("4.2.2\0v41\0\x01hash\0", 17);
    return u32(0xFFFFFFFFu) + u32(0xFFFFFFFFu) + u32(payload.size()) + u32(0) + payload;
  };
  std::string received;
  RunWithClient(loop, [&] {
    int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
    sockaddr_un un{};
    un.sun_family = AF_UNIX;
    std::snprintf(un.sun_path, sizeof(un.sun_path), "%s", path.c_str());
    ASSERT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&un), sizeof(un)), 0);
    const std::string message = connect_message(4242, 4343) + "after";
    // In two pieces: the relay must wait for the whole connect message.
    ASSERT_EQ(::send(fd, message.data(), 20, 0), 20);
    ::usleep(20000);
    ASSERT_EQ(::send(fd, message.data() + 20, message.size() - 20, 0),
              static_cast<ssize_t>(message.size() - 20));
    ::shutdown(fd, SHUT_WR);
    char buffer[256];
    ssize_t n;
    while ((n = ::recv(fd, buffer, sizeof(buffer), 0)) > 0) received.append(buffer, n);
    ::close(fd);
  });
  EXPECT_EQ(received, connect_message(::getuid(), ::getgid()) + "after");
  ::unlink(path.c_str());
  ::rmdir(dir);
}

}  // namespace
}  // namespace pmi_shim::downstream
