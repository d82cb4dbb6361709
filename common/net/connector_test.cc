// ConnectUnix, ConnectTcp (tcp_connect.h) and the two connectors: they
// connect, they say where they failed, and a failure leaks no fd.
#include "common/net/connector.h"

#include <dirent.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/socket.h>

#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/net/tcp_connect.h"
#include "common/sockets.h"
#include "test/testing/status_matchers.h"

namespace pmi_shim::net {
namespace {

int OpenFdCount() {
  int count = 0;
  DIR* dir = ::opendir("/proc/self/fd");
  while (::readdir(dir) != nullptr) ++count;
  ::closedir(dir);
  return count;
}

class ConnectUnixTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_NE(::mkdtemp(dir_), nullptr);
    path_ = absl::StrCat(dir_, "/s.sock");
  }
  void TearDown() override {
    ::unlink(path_.c_str());
    ::rmdir(dir_);
  }
  char dir_[32] = "/tmp/connector-test-XXXXXX";
  std::string path_;
};

TEST_F(ConnectUnixTest, ConnectsCloseOnExec) {
  absl::StatusOr<UniqueFd> listener = ListenUnix(path_);
  ASSERT_OK(listener);
  absl::StatusOr<UniqueFd> fd = ConnectUnix(path_);
  ASSERT_OK(fd);
  EXPECT_TRUE(::fcntl(fd->get(), F_GETFD) & FD_CLOEXEC);
  UniqueFd accepted(::accept(listener->get(), nullptr, nullptr));
  EXPECT_TRUE(accepted.valid());
}

TEST_F(ConnectUnixTest, MissingSocketIsNamedAndLeaksNothing) {
  const int before = OpenFdCount();
  absl::StatusOr<UniqueFd> fd = ConnectUnix(path_);
  ASSERT_FALSE(fd.ok());
  EXPECT_TRUE(absl::IsNotFound(fd.status())) << fd.status();
  EXPECT_TRUE(absl::StrContains(fd.status().message(), path_)) << fd.status();
  EXPECT_EQ(OpenFdCount(), before) << "the failed socket was not closed";
}

TEST(ConnectUnixPathTest, TooLongForSunPathIsInvalid) {
  absl::StatusOr<UniqueFd> fd = ConnectUnix("/tmp/" + std::string(200, 'x'));
  EXPECT_TRUE(absl::IsInvalidArgument(fd.status())) << fd.status();
}

TEST(ConnectTcpTest, ConnectsByNameAndRefusalIsUnavailable) {
  absl::StatusOr<TcpListener> listener = ListenTcp4("127.0.0.1", 0);
  ASSERT_OK(listener);
  const absl::Time deadline = absl::Now() + absl::Seconds(5);
  absl::StatusOr<UniqueFd> fd = ConnectTcp("127.0.0.1", listener->port, deadline);
  ASSERT_OK(fd);
  EXPECT_TRUE(::fcntl(fd->get(), F_GETFL) & O_NONBLOCK);
  const int port = listener->port;
  listener->fd.Reset();
  const int before = OpenFdCount();
  absl::StatusOr<UniqueFd> refused = ConnectTcp("127.0.0.1", port, deadline);
  EXPECT_TRUE(absl::IsUnavailable(refused.status())) << refused.status();
  EXPECT_TRUE(absl::StrContains(refused.status().message(), absl::StrCat(":", port)));
  EXPECT_EQ(OpenFdCount(), before);
}

TEST_F(ConnectUnixTest, ConnectorsDescribeTheirTargetAndConnect) {
  absl::StatusOr<UniqueFd> unix_listener = ListenUnix(path_);
  ASSERT_OK(unix_listener);
  Connector unix_connector = UnixConnector(path_);
  EXPECT_EQ(unix_connector.description, path_);
  EXPECT_EQ(unix_connector.state, Stream::State::kConnected);
  EXPECT_OK(unix_connector.connect());

  absl::StatusOr<TcpListener> tcp_listener = ListenTcp4("127.0.0.1", 0);
  ASSERT_OK(tcp_listener);
  Connector tcp = TcpConnector("127.0.0.1", tcp_listener->port, "the PMIx server");
  EXPECT_EQ(tcp.description, "the PMIx server");
  EXPECT_EQ(tcp.state, Stream::State::kConnecting);
  EXPECT_OK(tcp.connect());
  EXPECT_EQ(TcpConnector("127.0.0.1", 7).description, "127.0.0.1:7");
}

}  // namespace
}  // namespace pmi_shim::net
