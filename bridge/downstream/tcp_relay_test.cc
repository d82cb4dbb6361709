// TcpRelay between a blocking client thread and an echo server on the same
// EventLoop: bytes arrive intact and in order, large transfers survive the
// bounded buffers, EOF travels through, and an unreachable target closes.
#include "bridge/downstream/tcp_relay.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <functional>
#include <string>
#include <thread>

#include "common/sockets.h"

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
    EXPECT_TRUE(listener.ok());
    listener_ = std::move(listener->fd);
    port_ = listener->port;
    EXPECT_TRUE(loop_.Watch(listener_.get(), EPOLLIN, [this](uint32_t) { Accept(); }).ok());
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
    ASSERT_TRUE(loop_.Watch(conn_.get(), EPOLLIN, [this](uint32_t) { Echo(); }).ok());
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
  ASSERT_TRUE(loop.Run().ok());
  thread.join();
}

TEST(TcpRelayTest, BytesGoThroughBothWaysUntilEof) {
  EventLoop loop;
  EchoServer echo(loop);
  TcpRelay::Options options;
  options.target_port = echo.port();
  options.max_buffered_bytes = 4096;  // force back-pressure on the big transfer
  absl::StatusOr<std::unique_ptr<TcpRelay>> relay = TcpRelay::Start(loop, options);
  ASSERT_TRUE(relay.ok()) << relay.status();
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
  ASSERT_TRUE(dead.ok());
  const int dead_port = dead->port;
  dead->fd.Reset();  // nothing listens there any more
  TcpRelay::Options options;
  options.target_port = dead_port;
  absl::StatusOr<std::unique_ptr<TcpRelay>> relay = TcpRelay::Start(loop, options);
  ASSERT_TRUE(relay.ok());
  ssize_t got = 1;
  RunWithClient(loop, [&] {
    int fd = ConnectBlocking((*relay)->port());
    char c;
    got = ::recv(fd, &c, 1, 0);
    ::close(fd);
  });
  EXPECT_LE(got, 0) << "the client must see the far side is gone";
}

}  // namespace
}  // namespace pmi_shim::downstream
