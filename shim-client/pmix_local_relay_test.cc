#include "shim-client/pmix_local_relay.h"

#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <string>
#include <thread>

#include "common/sockets.h"
#include "common/unique_fd.h"
#include "gtest/gtest.h"
#include "test/testing/status_matchers.h"

namespace pmi_shim::shim_client {
namespace {

// Serves `path`: for each connection, sends "hello\n", then echoes what it
// reads until end-of-stream, then closes (a half-closing peer).
class UnixEchoServer {
 public:
  explicit UnixEchoServer(const std::string& path) {
    sockaddr_un address{};
    address.sun_family = AF_UNIX;
    std::strcpy(address.sun_path, path.c_str());
    listener_.Reset(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    EXPECT_EQ(::bind(listener_.get(), reinterpret_cast<sockaddr*>(&address), sizeof(address)), 0);
    EXPECT_EQ(::listen(listener_.get(), 4), 0);
    thread_ = std::thread([this] {
      for (int served = 0; served < 2; ++served) {
        UniqueFd client(::accept(listener_.get(), nullptr, nullptr));
        if (!client.valid()) return;
        (void)!::write(client.get(), "hello\n", 6);
        char buffer[65536];
        ssize_t n;
        while ((n = ::read(client.get(), buffer, sizeof(buffer))) > 0) {
          ssize_t done = 0;
          while (done < n) done += ::write(client.get(), buffer + done, n - done);
        }
      }
    });
  }
  ~UnixEchoServer() {
    ::shutdown(listener_.get(), SHUT_RDWR);
    thread_.join();
  }

 private:
  UniqueFd listener_;
  std::thread thread_;
};

UniqueFd ConnectLoopback(int port) {
  UniqueFd fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_in in{};
  in.sin_family = AF_INET;
  in.sin_port = htons(static_cast<uint16_t>(port));
  in.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd.get(), reinterpret_cast<sockaddr*>(&in), sizeof(in)) != 0) return UniqueFd();
  return fd;
}

std::string ReadAll(int fd) {
  std::string text;
  char buffer[65536];
  while (true) {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, 5000) <= 0) return text + "<timeout>";
    const ssize_t n = ::read(fd, buffer, sizeof(buffer));
    if (n <= 0) return text;
    text.append(buffer, static_cast<size_t>(n));
  }
}

class LocalRelayTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char pattern[] = "/tmp/shim-relay-XXXXXX";
    ASSERT_NE(::mkdtemp(pattern), nullptr);
    dir_ = pattern;
    path_ = dir_ + "/pmix.sock";
  }
  void TearDown() override {
    if (relay_pid_ > 0) {
      ::kill(relay_pid_, SIGKILL);
      ::waitpid(relay_pid_, nullptr, 0);
    }
    ::unlink(path_.c_str());
    ::rmdir(dir_.c_str());
  }
  std::string dir_, path_;
  pid_t relay_pid_ = 0;
};

TEST_F(LocalRelayTest, PipesBothWaysWithHalfCloseAndLargePayloads) {
  // Fork while single-threaded; the Unix server starts afterwards.
  absl::StatusOr<LocalRelay> relay = StartLocalPmixRelay(path_);
  ASSERT_OK(relay);
  relay_pid_ = relay->pid;
  ASSERT_GT(relay->port, 0);
  UnixEchoServer server(path_);

  for (int round = 0; round < 2; ++round) {
    UniqueFd tcp = ConnectLoopback(relay->port);
    ASSERT_TRUE(tcp.valid());
    // More than the relay buffers per direction, to exercise back-pressure.
    std::string payload(3 << 20, 'x');
    for (size_t i = 0; i < payload.size(); i += 4096) payload[i] = static_cast<char>('a' + round);
    std::thread writer([&] {
      size_t done = 0;
      while (done < payload.size()) {
        const ssize_t n = ::write(tcp.get(), payload.data() + done, payload.size() - done);
        if (n <= 0) break;
        done += static_cast<size_t>(n);
      }
      ::shutdown(tcp.get(), SHUT_WR);  // the echo server sees EOF and closes
    });
    const std::string back = ReadAll(tcp.get());
    writer.join();
    EXPECT_EQ(back.size(), payload.size() + 6) << "round " << round;
    EXPECT_EQ(back, "hello\n" + payload) << "round " << round;
  }
}

TEST_F(LocalRelayTest, RelayDiesWhenTheUnixPeerIsMissingOnlyPerConnection) {
  absl::StatusOr<LocalRelay> relay = StartLocalPmixRelay(path_);  // nothing listens there
  ASSERT_OK(relay);
  relay_pid_ = relay->pid;
  UniqueFd tcp = ConnectLoopback(relay->port);
  ASSERT_TRUE(tcp.valid());
  EXPECT_EQ(ReadAll(tcp.get()), "");  // closed at once, no hang
  EXPECT_EQ(::waitpid(relay->pid, nullptr, WNOHANG), 0) << "the relay itself keeps running";
}

TEST(ProbeTcp4Test, ListeningPortIsReachableClosedPortIsNot) {
  absl::StatusOr<TcpListener> listener = ListenTcp4("127.0.0.1", 0);
  ASSERT_OK(listener);
  EXPECT_OK(ProbeTcp4("127.0.0.1", listener->port, absl::Seconds(2)));
  const int port = listener->port;
  listener->fd.Reset();
  EXPECT_FALSE(ProbeTcp4("127.0.0.1", port, absl::Seconds(2)).ok());
}

}  // namespace
}  // namespace pmi_shim::shim_client
