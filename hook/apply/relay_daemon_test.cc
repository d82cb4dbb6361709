// The relay's pure parts and its seccomp allow-list, loaded for real in a
// forked child: what the relay loop needs works, anything else kills it.
#include "hook/apply/relay_daemon.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <functional>

#include "absl/strings/match.h"
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
  EXPECT_EQ(RunRelayVerbImpl({"--netns", "/x", "--address", "127.0.0.1", "--port", "99999",
                              "--pid", "1"}),
            2);
}

TEST(RunRelayVerbTest, ReportsAGoneContainerOnTheReadyFd) {
  int fds[2];
  ASSERT_EQ(::pipe(fds), 0);
  const int code = RunRelayVerbImpl({"--netns", "/proc/self/ns/net", "--address", "127.0.0.1",
                                     "--port", "1", "--pid", "1073741823", "--ready-fd",
                                     std::to_string(fds[1])});
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
