// PmiServer over real sockets: a TCP listener (PMI_PORT clients), a Unix
// socket (container clients) and an inherited socketpair (PMI_FD), each
// driven by a blocking client in a thread while the server's loop runs here.
#include "bridge/downstream/pmi_server.h"

#include <arpa/inet.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <functional>
#include <string>
#include <thread>

#include "absl/strings/str_cat.h"
#include "bridge/upstream/embedded_host.h"
#include "common/net/connector.h"
#include "test/testing/status_matchers.h"

namespace pmi_shim::downstream {
namespace {

using ::testing::HasSubstr;

session::JobInfo JobOfSize(int size) {
  session::JobInfo info;
  info.kvsname = "kvs_server_test";
  info.size = size;
  info.universe_size = size;
  info.process_mapping = "(vector,(0,1,2))";
  return info;
}

// Blocking helpers for the client side.
void WriteAll(int fd, const std::string& data) {
  ASSERT_EQ(::write(fd, data.data(), data.size()), static_cast<ssize_t>(data.size()));
}
std::string ReadLine(int fd) {
  std::string line;
  char c;
  while (::read(fd, &c, 1) == 1) {
    if (c == '\n') return line;
    line += c;
  }
  return line + "<EOF>";
}
std::string ReadRecord(int fd) {
  char length[7] = {};
  if (::read(fd, length, 6) != 6) return "<EOF>";
  std::string payload(std::stoi(length), '\0');
  size_t got = 0;
  while (got < payload.size()) {
    ssize_t n = ::read(fd, &payload[got], payload.size() - got);
    if (n <= 0) return "<EOF>";
    got += n;
  }
  return payload;
}

// Runs `client` in a thread and the server's loop here until it returns.
void RunWithClient(EventLoop& loop, std::function<void()> client) {
  int done[2];
  ASSERT_EQ(::pipe(done), 0);
  std::thread thread([&] {
    client();
    (void)!::write(done[1], "x", 1);
  });
  ASSERT_OK(loop.Watch(done[0], EPOLLIN, [&](uint32_t) { loop.Stop(); }));
  loop.AddTimer(absl::Seconds(20), [&] { loop.Stop(); });  // never hang the suite
  ASSERT_OK(loop.Run());
  thread.join();
  loop.Unwatch(done[0]);
  ::close(done[0]);
  ::close(done[1]);
}

TEST(PmiServerTest, TcpClientDoesTheInitackHandshake) {
  EventLoop loop;
  upstream::EmbeddedHost host(JobOfSize(2), {});
  PmiServer server(loop, host, {});
  absl::StatusOr<int> port = server.ListenTcp("127.0.0.1", 0);
  ASSERT_OK(port);
  std::vector<std::string> lines;
  RunWithClient(loop, [&] {
    int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in in{};
    in.sin_family = AF_INET;
    in.sin_port = htons(*port);
    in.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ASSERT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&in), sizeof(in)), 0);
    WriteAll(fd, "cmd=initack pmiid=1\n");
    for (int i = 0; i < 4; ++i) lines.push_back(ReadLine(fd));
    WriteAll(fd, "cmd=init pmi_version=1 pmi_subversion=1\ncmd=get_my_kvsname\n");
    lines.push_back(ReadLine(fd));
    lines.push_back(ReadLine(fd));
    ::close(fd);
  });
  ASSERT_EQ(lines.size(), 6u);
  EXPECT_THAT(lines[0], HasSubstr("cmd=initack"));
  EXPECT_EQ(lines[1], "cmd=set size=2");
  EXPECT_EQ(lines[2], "cmd=set rank=1");
  EXPECT_THAT(lines[4], HasSubstr("rc=0"));
  EXPECT_THAT(lines[5], HasSubstr("kvsname=kvs_server_test"));
  EXPECT_TRUE(server.RankSpoke(1));
  EXPECT_FALSE(server.RankSpoke(0));
}

TEST(PmiServerTest, UnixSocketServesAPmi2ClientAndIsRemovedOnShutdown) {
  EventLoop loop;
  upstream::EmbeddedHost host(JobOfSize(2), {});
  PmiServer server(loop, host, {});
  // TEST_TMPDIR is too deep for sun_path (108 bytes); /tmp is not.
  char dir[] = "/tmp/pmi-server-test-XXXXXX";
  ASSERT_NE(::mkdtemp(dir), nullptr);
  const std::string path = absl::StrCat(dir, "/pmi.sock");
  absl::Status listening = server.ListenUnix(path);
  ASSERT_OK(listening);
  std::string response_to_init, fullinit;
  RunWithClient(loop, [&] {
    absl::StatusOr<UniqueFd> connected = net::ConnectUnix(path);
    ASSERT_OK(connected);
    const int fd = connected->Release();
    WriteAll(fd, "cmd=init pmi_version=2 pmi_subversion=0\n");
    response_to_init = ReadLine(fd);
    WriteAll(fd, "23    cmd=fullinit;pmirank=0;");  // left-aligned length, as Slurm writes
    fullinit = ReadRecord(fd);
    ::close(fd);
  });
  EXPECT_THAT(response_to_init, HasSubstr("pmi_version=2"));
  EXPECT_THAT(fullinit, HasSubstr("cmd=fullinit-response;rc=0;"));
  EXPECT_THAT(fullinit, HasSubstr("rank=0;size=2;"));
  server.Shutdown();
  EXPECT_NE(::access(path.c_str(), F_OK), 0) << "socket path left behind";
  ::rmdir(dir);
}

// A connected Unix socket to `path` (the test closes it), or -1.
int ConnectUnix(const std::string& path) {
  absl::StatusOr<UniqueFd> fd = net::ConnectUnix(path);
  return fd.ok() ? fd->Release() : -1;
}

class RankSocketTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_NE(::mkdtemp(dir_), nullptr);
    path_ = absl::StrCat(dir_, "/pmi.sock");
  }
  void TearDown() override {
    ::unlink(path_.c_str());
    ::rmdir(dir_);
  }
  char dir_[32] = "/tmp/rank-socket-test-XXXXXX";
  std::string path_;
};

TEST_F(RankSocketTest, HandshakeThenApplicationOnTheSameRank) {
  EventLoop loop;
  int lost_rank = -1;
  upstream::EmbeddedHost::Events events;
  events.lost = [&](int rank, const std::string&) { lost_rank = rank; };
  upstream::EmbeddedHost host(JobOfSize(2), events);
  PmiServer server(loop, host, {});
  ASSERT_OK(server.ListenUnixForRank(path_, 1));
  std::string check_init, app_init, app_put;
  RunWithClient(loop, [&] {
    int check = ConnectUnix(path_);  // as `pmi-shim-client check` does
    ASSERT_GE(check, 0);
    WriteAll(check, "cmd=init pmi_version=1 pmi_subversion=1\ncmd=get_maxes\n");
    check_init = ReadLine(check);
    ReadLine(check);
    ::close(check);
    int app = -1;
    // The release happens when the server reads the hang-up; retry briefly.
    for (int attempt = 0; attempt < 50; ++attempt) {
      app = ConnectUnix(path_);
      WriteAll(app, "cmd=init pmi_version=1 pmi_subversion=1\n");
      app_init = ReadLine(app);
      if (app_init.find("rc=0") != std::string::npos) break;
      ::close(app);
      app = -1;
      ::usleep(20000);
    }
    ASSERT_GE(app, 0);
    WriteAll(app, "cmd=put kvsname=kvs_server_test key=k value=v\n");
    app_put = ReadLine(app);
    ::close(app);
  });
  EXPECT_THAT(check_init, HasSubstr("rc=0"));
  EXPECT_THAT(app_init, HasSubstr("rc=0"));
  EXPECT_THAT(app_put, HasSubstr("rc=0"));
  loop.AddTimer(absl::Milliseconds(100), [&] { loop.Stop(); });
  ASSERT_OK(loop.Run());
  EXPECT_EQ(lost_rank, 1) << "the application vanished after a put: the job must hear of it";
}

// ServerOptions::before_serving: runs for each accepted client before it is
// served (a deferred host connects there); when it fails the client is
// disconnected unheard.
TEST_F(RankSocketTest, BeforeServingRunsFirstAndCanRefuse) {
  EventLoop loop;
  upstream::EmbeddedHost host(JobOfSize(2), {});
  std::atomic<int> calls{0};
  std::atomic<bool> refuse{false};  // set by the client thread
  ServerOptions options;
  options.before_serving = [&]() -> absl::Status {
    ++calls;
    return refuse ? absl::UnavailableError("upstream unreachable") : absl::OkStatus();
  };
  PmiServer server(loop, host, options);
  ASSERT_OK(server.ListenUnixForRank(path_, 1));
  std::string served, refused;
  RunWithClient(loop, [&] {
    int fd = ConnectUnix(path_);
    ASSERT_GE(fd, 0);
    WriteAll(fd, "cmd=init pmi_version=1 pmi_subversion=1\n");
    served = ReadLine(fd);
    ::close(fd);
    refuse = true;
    fd = ConnectUnix(path_);
    ASSERT_GE(fd, 0);
    WriteAll(fd, "cmd=init pmi_version=1 pmi_subversion=1\n");
    refused = ReadLine(fd);
    ::close(fd);
  });
  EXPECT_THAT(served, HasSubstr("rc=0"));
  EXPECT_EQ(refused, "<EOF>");
  EXPECT_EQ(calls, 2);
}

TEST_F(RankSocketTest, ClientCannotSpeakForAnotherRank) {
  EventLoop loop;
  upstream::EmbeddedHost host(JobOfSize(2), {});
  PmiServer server(loop, host, {});
  ASSERT_OK(server.ListenUnixForRank(path_, 1));
  std::string reply;
  RunWithClient(loop, [&] {
    int fd = ConnectUnix(path_);
    ASSERT_GE(fd, 0);
    WriteAll(fd, "cmd=init pmi_version=2 pmi_subversion=0\n");
    ReadLine(fd);
    WriteAll(fd, "23    cmd=fullinit;pmirank=0;");
    reply = ReadRecord(fd);
    ::close(fd);
  });
  EXPECT_EQ(reply, "<EOF>") << "a rank-1 socket answered a client claiming rank 0";
}

TEST_F(RankSocketTest, PeerWithAnotherUidIsRefused) {
  if (::getuid() != 0) GTEST_SKIP() << "needs root to connect as another uid";
  EventLoop loop;
  upstream::EmbeddedHost host(JobOfSize(2), {});
  PmiServer server(loop, host, {});
  ASSERT_TRUE(::chmod(dir_, 0755) == 0);
  ASSERT_OK(server.ListenUnixForRank(path_, 0));
  ASSERT_EQ(::chmod(path_.c_str(), 0777), 0);
  std::string reply = "unset";
  int child_exit = -1;
  RunWithClient(loop, [&] {
    int report[2];
    ASSERT_EQ(::pipe(report), 0);
    const pid_t child = ::fork();
    if (child == 0) {
      if (::setgid(12345) != 0 || ::setuid(12345) != 0) ::_exit(2);
      ::signal(SIGPIPE, SIG_IGN);  // the server may hang up before we write
      int fd = ConnectUnix(path_);
      if (fd < 0) ::_exit(3);
      const std::string init = "cmd=init pmi_version=1 pmi_subversion=1\n";
      (void)!::write(fd, init.data(), init.size());
      const std::string line = ReadLine(fd);
      (void)!::write(report[1], line.data(), line.size());
      ::_exit(0);
    }
    ::close(report[1]);
    char buffer[256] = {};
    const ssize_t n = ::read(report[0], buffer, sizeof(buffer) - 1);
    reply.assign(buffer, n > 0 ? n : 0);
    ::close(report[0]);
    int status = 0;
    ::waitpid(child, &status, 0);
    child_exit = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  });
  if (child_exit == 2) GTEST_SKIP() << "cannot become uid 12345 here (user namespace?)";
  ASSERT_EQ(child_exit, 0);
  EXPECT_EQ(reply, "<EOF>") << "a client of another uid got an answer";
  EXPECT_FALSE(server.RankSpoke(0));
}

TEST(PmiServerTest, ClientThatNeverNamesItselfIsDisconnected) {
  EventLoop loop;
  upstream::EmbeddedHost host(JobOfSize(2), {});
  ServerOptions options;
  options.identify_timeout = absl::Milliseconds(200);
  PmiServer server(loop, host, options);
  absl::StatusOr<int> port = server.ListenTcp("127.0.0.1", 0);
  ASSERT_OK(port);
  std::string after_silence;
  RunWithClient(loop, [&] {
    int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in in{};
    in.sin_family = AF_INET;
    in.sin_port = htons(*port);
    in.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ASSERT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&in), sizeof(in)), 0);
    after_silence = ReadLine(fd);  // blocks until the server gives up on us
    ::close(fd);
  });
  EXPECT_EQ(after_silence, "<EOF>");
}

TEST(PmiServerTest, GarbageOnAnInheritedSocketReportsTheRankAsLost) {
  EventLoop loop;
  int lost_rank = -1;
  std::string lost_reason;
  upstream::EmbeddedHost::Events events;
  events.lost = [&](int rank, const std::string& reason) {
    lost_rank = rank;
    lost_reason = reason;
  };
  upstream::EmbeddedHost host(JobOfSize(2), events);
  PmiServer server(loop, host, {});
  int pair[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM, 0, pair), 0);
  ASSERT_OK(server.AddConnectedClient(UniqueFd(pair[0]), 1));
  std::string reply;
  RunWithClient(loop, [&] {
    WriteAll(pair[1], "cmd=init pmi_version=1 pmi_subversion=1\n");
    reply = ReadLine(pair[1]);
    WriteAll(pair[1], "cmd=no_such_command\n");
    ReadLine(pair[1]);  // EOF once the server drops us
    ::close(pair[1]);
  });
  EXPECT_THAT(reply, HasSubstr("rc=0"));
  EXPECT_EQ(lost_rank, 1);
  EXPECT_THAT(lost_reason, HasSubstr("unknown command"));
}

}  // namespace
}  // namespace pmi_shim::downstream
