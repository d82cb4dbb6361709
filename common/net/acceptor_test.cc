// Acceptor: every pending client, the accepted fds' flags, and the peer
// rule (pure, and for real with a client of another uid when root).
#include "common/net/acceptor.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/net/connector.h"
#include "common/net/net_test_util.h"
#include "common/sockets.h"
#include "test/testing/status_matchers.h"

namespace pmi_shim::net {
namespace {

using testing::RunUntil;

TEST(CheckPeerUidTest, OwnUserAndRootPassOthersAreNamed) {
  EXPECT_OK(CheckPeerUid(1000, 1000));
  EXPECT_OK(CheckPeerUid(0, 1000));
  absl::Status refused = CheckPeerUid(1001, 1000);
  EXPECT_TRUE(absl::IsPermissionDenied(refused)) << refused;
  EXPECT_TRUE(absl::StrContains(refused.message(), "uid 1001")) << refused;
  EXPECT_TRUE(absl::StrContains(refused.message(), "uid 1000")) << refused;
  EXPECT_FALSE(CheckPeerUid(1000, 0).ok()) << "root's job is root's only";
}

TEST(AcceptorTest, AcceptsEveryPendingClientNonBlockingAndCloseOnExec) {
  EventLoop loop;
  absl::StatusOr<TcpListener> listener = ListenTcp4("127.0.0.1", 0);
  ASSERT_OK(listener);
  const int port = listener->port;
  std::vector<Acceptor::Client> clients;
  absl::StatusOr<std::unique_ptr<Acceptor>> acceptor =
      Acceptor::Start(loop, std::move(listener->fd), {},
                      [&](Acceptor::Client client) { clients.push_back(std::move(client)); });
  ASSERT_OK(acceptor);
  std::vector<UniqueFd> connections;
  for (int i = 0; i < 3; ++i) {
    absl::StatusOr<UniqueFd> fd = StartConnectTcp4("127.0.0.1", port);
    ASSERT_OK(fd);
    connections.push_back(*std::move(fd));
  }
  ASSERT_TRUE(RunUntil(loop, [&] { return clients.size() == 3; }));
  for (const Acceptor::Client& client : clients) {
    EXPECT_TRUE(::fcntl(client.fd.get(), F_GETFL) & O_NONBLOCK);
    EXPECT_TRUE(::fcntl(client.fd.get(), F_GETFD) & FD_CLOEXEC);
    EXPECT_FALSE(client.credentials.has_value()) << "kAnyone does not ask the kernel";
  }
}

class UnixAcceptorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_NE(::mkdtemp(dir_), nullptr);
    path_ = absl::StrCat(dir_, "/rank.sock");
  }
  void TearDown() override {
    ::unlink(path_.c_str());
    ::rmdir(dir_);
  }
  std::unique_ptr<Acceptor> Start(EventLoop& loop, std::vector<Acceptor::Client>& clients) {
    absl::StatusOr<UniqueFd> listener = ListenUnix(path_);
    EXPECT_OK(listener);
    Acceptor::Options options;
    options.policy = PeerPolicy::kSameUserOrRoot;
    options.description = path_;
    absl::StatusOr<std::unique_ptr<Acceptor>> acceptor =
        Acceptor::Start(loop, *std::move(listener), options,
                        [&](Acceptor::Client client) { clients.push_back(std::move(client)); });
    EXPECT_OK(acceptor);
    return acceptor.ok() ? *std::move(acceptor) : nullptr;
  }
  char dir_[32] = "/tmp/acceptor-test-XXXXXX";
  std::string path_;
};

TEST_F(UnixAcceptorTest, SameUserIsAdmittedWithItsCredentials) {
  EventLoop loop;
  std::vector<Acceptor::Client> clients;
  std::unique_ptr<Acceptor> acceptor = Start(loop, clients);
  absl::StatusOr<UniqueFd> fd = ConnectUnix(path_);
  ASSERT_OK(fd);
  ASSERT_TRUE(RunUntil(loop, [&] { return clients.size() == 1; }));
  ASSERT_TRUE(clients[0].credentials.has_value());
  EXPECT_EQ(clients[0].credentials->uid, ::getuid());
  EXPECT_EQ(clients[0].credentials->pid, ::getpid());
}

TEST_F(UnixAcceptorTest, AnotherUidIsRefusedAndClosed) {
  if (::getuid() != 0) GTEST_SKIP() << "needs root to connect as another uid";
  EventLoop loop;
  std::vector<Acceptor::Client> clients;
  ASSERT_EQ(::chmod(dir_, 0755), 0);
  std::unique_ptr<Acceptor> acceptor = Start(loop, clients);
  ASSERT_EQ(::chmod(path_.c_str(), 0777), 0);
  const pid_t child = ::fork();
  if (child == 0) {
    if (::setgid(12345) != 0 || ::setuid(12345) != 0) ::_exit(2);
    absl::StatusOr<UniqueFd> fd = ConnectUnix(path_);
    if (!fd.ok()) ::_exit(3);
    char byte;
    // The acceptor closes a refused client: end-of-stream, never data.
    const ssize_t n = ::read(fd->get(), &byte, 1);
    ::_exit(n == 0 ? 0 : 4);
  }
  int status = 0;
  ASSERT_TRUE(RunUntil(loop, [&] { return ::waitpid(child, &status, WNOHANG) == child; }));
  if (WIFEXITED(status) && WEXITSTATUS(status) == 2) GTEST_SKIP() << "cannot become uid 12345";
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0) << "the refused client was not simply closed";
  EXPECT_TRUE(clients.empty()) << "a client of another uid was handed on";
}

}  // namespace
}  // namespace pmi_shim::net
