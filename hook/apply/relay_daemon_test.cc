// The relay's pure parts and its seccomp allow-list, loaded for real in a
// forked child: what the relay loop needs works, anything else kills it.
#include "hook/apply/relay_daemon.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <functional>

#include "absl/strings/match.h"
#include "absl/time/clock.h"
#include "common/event_loop.h"
#include "common/net/connector.h"
#include "common/net/relay_server.h"
#include "common/net/tcp_connect.h"
#include "common/sockets.h"
#include "common/unique_fd.h"
#include "hook/apply/seccomp_policy.h"
#include "test/testing/status_matchers.h"

namespace pmi_shim::hook {
namespace {

TEST(ParseStatStartTimeTest, CountsFieldsFromTheLastParenthesis) {
  // comm "a) b (c" holds spaces and parentheses; starttime is 987654.
  const std::string stat =
      "1234 (a) b (c) S 1 1234 1234 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 987654 1000 50 "
      "18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 17 0 0 0 0 0 0";
  absl::StatusOr<uint64_t> start = ParseStatStartTime(stat);
  ASSERT_OK(start);
  EXPECT_EQ(*start, 987654u);
  EXPECT_FALSE(ParseStatStartTime("garbage").ok());
  EXPECT_FALSE(ParseStatStartTime("1 (x) S 1 2").ok());
}

TEST(ProcessStartTimeTest, MatchesForTheSameProcessOnly) {
  absl::StatusOr<uint64_t> mine = ProcessStartTime(::getpid());
  ASSERT_OK(mine);
  EXPECT_EQ(*ProcessStartTime(::getpid()), *mine);
  EXPECT_FALSE(ProcessStartTime(0x3fffffff).ok());
}

TEST(StopRelayDaemonTest, LeavesARecycledPidAlone) {
  const pid_t child = ::fork();
  if (child == 0) {
    ::pause();
    ::_exit(0);
  }
  absl::StatusOr<uint64_t> start = ProcessStartTime(child);
  ASSERT_OK(start);
  // A different start time: the recorded relay is not this process.
  EXPECT_OK(StopRelayDaemon(child, *start + 1));
  EXPECT_EQ(::kill(child, 0), 0) << "an unrelated process was signalled";
  EXPECT_OK(StopRelayDaemon(child, *start));
  int wstatus = 0;
  ASSERT_EQ(::waitpid(child, &wstatus, 0), child);
  EXPECT_TRUE(WIFSIGNALED(wstatus));
  EXPECT_EQ(WTERMSIG(wstatus), SIGTERM);
  EXPECT_OK(StopRelayDaemon(child, *start)) << "gone is fine";
}

// Runs `body` in a child under the relay's filter; returns its wait status.
int UnderPolicy(const std::function<int()>& body) {
  const pid_t child = ::fork();
  if (child == 0) {
    if (!InstallRelaySeccompPolicy().ok()) ::_exit(99);
    ::_exit(body());
  }
  int wstatus = 0;
  ::waitpid(child, &wstatus, 0);
  return wstatus;
}

TEST(RelaySeccompPolicyTest, AllowsWhatTheRelayLoopNeeds) {
  const int wstatus = UnderPolicy([] {
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0) return 1;
    char* memory = new char[1 << 20];  // malloc may mmap
    memory[0] = 1;
    delete[] memory;
    ::close(fd);
    return 0;
  });
  ASSERT_TRUE(WIFEXITED(wstatus)) << "killed by signal " << WTERMSIG(wstatus);
  EXPECT_EQ(WEXITSTATUS(wstatus), 0);
}

// The daemon's whole relay (common/net) under the filter: a client's bytes
// reach the server and back, with half-close, and the relay ends cleanly.
// A syscall the library needs and the list lacks would kill the child.
TEST(RelaySeccompPolicyTest, TheRelayLoopRunsUnderIt) {
  absl::StatusOr<TcpListener> server = ListenTcp4("127.0.0.1", 0);
  ASSERT_OK(server);
  int port_pipe[2];
  ASSERT_EQ(::pipe(port_pipe), 0);
  const pid_t child = ::fork();
  if (child == 0) {
    EventLoop loop;
    absl::StatusOr<TcpListener> listener = ListenTcp4("127.0.0.1", 0);
    if (!listener.ok()) ::_exit(10);
    net::RelayServer::Options options;
    options.connector = net::TcpConnector("127.0.0.1", server->port);
    absl::Status outcome = absl::UnknownError("no relay ended");
    options.on_relay_done = [&](const absl::Status& status) {
      outcome = status;
      loop.Stop();
    };
    absl::StatusOr<std::unique_ptr<net::RelayServer>> relay =
        net::RelayServer::Start(loop, std::move(listener->fd), std::move(options));
    if (!relay.ok()) ::_exit(11);
    if (!InstallRelaySeccompPolicy().ok()) ::_exit(12);
    (void)!::write(port_pipe[1], &listener->port, sizeof(listener->port));
    loop.AddTimer(absl::Seconds(20), [&] { loop.Stop(); });
    if (!loop.Run().ok()) ::_exit(13);
    ::_exit(outcome.ok() ? 0 : 14);
  }
  ::close(port_pipe[1]);
  int relay_port = 0;
  ASSERT_EQ(::read(port_pipe[0], &relay_port, sizeof(relay_port)),
            static_cast<ssize_t>(sizeof(relay_port)));
  ::close(port_pipe[0]);
  absl::StatusOr<UniqueFd> client =
      net::ConnectTcp("127.0.0.1", relay_port, absl::Now() + absl::Seconds(5));
  ASSERT_OK(client);
  auto blocking = [](int fd) {
    ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) & ~O_NONBLOCK);
    const timeval five{5, 0};
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &five, sizeof(five));
  };
  blocking(client->get());
  ASSERT_EQ(::send(client->get(), "ping", 4, MSG_NOSIGNAL), 4);
  pollfd incoming{server->fd.get(), POLLIN, 0};
  ASSERT_EQ(::poll(&incoming, 1, 5000), 1) << "the relay never connected to the server";
  UniqueFd accepted(::accept4(server->fd.get(), nullptr, nullptr, SOCK_CLOEXEC));
  ASSERT_TRUE(accepted.valid());
  blocking(accepted.get());
  char buffer[16] = {};
  ASSERT_EQ(::recv(accepted.get(), buffer, 4, MSG_WAITALL), 4);
  EXPECT_EQ(std::string(buffer, 4), "ping");
  ASSERT_EQ(::send(accepted.get(), "pong", 4, MSG_NOSIGNAL), 4);
  ::shutdown(accepted.get(), SHUT_WR);
  std::string back;
  ssize_t n;
  while ((n = ::recv(client->get(), buffer, sizeof(buffer), 0)) > 0) back.append(buffer, n);
  EXPECT_EQ(back, "pong");
  ::shutdown(client->get(), SHUT_WR);
  EXPECT_EQ(::recv(accepted.get(), buffer, sizeof(buffer), 0), 0) << "no half-close passed on";
  int wstatus = 0;
  ASSERT_EQ(::waitpid(child, &wstatus, 0), child);
  ASSERT_TRUE(WIFEXITED(wstatus)) << "killed by signal " << WTERMSIG(wstatus);
  EXPECT_EQ(WEXITSTATUS(wstatus), 0);
}

TEST(RelaySeccompPolicyTest, KillsOnOpenExecAndUnixSockets) {
  for (const std::function<int()>& body : std::vector<std::function<int()>>{
           [] { return ::open("/etc/passwd", O_RDONLY) >= 0 ? 0 : 2; },
           [] { return ::socket(AF_UNIX, SOCK_STREAM, 0) >= 0 ? 0 : 2; },
           [] {
             char* argv[] = {const_cast<char*>("/bin/true"), nullptr};
             ::execv("/bin/true", argv);
             return 2;
           },
       }) {
    const int wstatus = UnderPolicy(body);
    ASSERT_TRUE(WIFSIGNALED(wstatus)) << "survived with exit " << WEXITSTATUS(wstatus);
    EXPECT_EQ(WTERMSIG(wstatus), SIGSYS);
  }
}

TEST(RelaySeccompPolicyTest, ExportsReadableText) {
  absl::StatusOr<std::string> text = RelaySeccompPolicyText();
  ASSERT_OK(text);
  EXPECT_TRUE(absl::StrContains(*text, "accept4")) << *text;
  EXPECT_FALSE(absl::StrContains(*text, "execve")) << *text;
}

TEST(RunRelayVerbTest, BadArgumentsExitTwo) {
  EXPECT_EQ(RunRelayVerbImpl({"--port"}), 2);
  EXPECT_EQ(RunRelayVerbImpl({"--netns", "/x", "--address", "127.0.0.1"}), 2);
  EXPECT_EQ(RunRelayVerbImpl(
                {"--netns", "/x", "--address", "127.0.0.1", "--port", "99999", "--pid", "1"}),
            2);
}

TEST(RunRelayVerbTest, ReportsAGoneContainerOnTheReadyFd) {
  int fds[2];
  ASSERT_EQ(::pipe(fds), 0);
  const int code =
      RunRelayVerbImpl({"--netns", "/proc/self/ns/net", "--address", "127.0.0.1", "--port", "1",
                        "--pid", "1073741823", "--ready-fd", std::to_string(fds[1])});
  ::close(fds[1]);
  char buffer[512] = {};
  ASSERT_GT(::read(fds[0], buffer, sizeof(buffer) - 1), 0);
  ::close(fds[0]);
  EXPECT_EQ(code, 1);
  EXPECT_TRUE(absl::StartsWith(buffer, "error ")) << buffer;
  EXPECT_TRUE(absl::StrContains(buffer, "is gone")) << buffer;
}

}  // namespace
}  // namespace pmi_shim::hook
