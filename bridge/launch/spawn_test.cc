// Spawn: where a rank lands (session, process group) and what it inherits.
#include "bridge/launch/spawn.h"

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "gtest/gtest.h"
#include "test/testing/status_matchers.h"

namespace pmi_shim::launch {
namespace {

// Fields 5 (pgrp) and 6 (session) of /proc/PID/stat, after the ")" that
// ends the command name.
std::pair<pid_t, pid_t> GroupAndSession(pid_t pid) {
  std::ifstream in(absl::StrCat("/proc/", pid, "/stat"));
  std::stringstream text;
  text << in.rdbuf();
  const std::string stat = text.str();
  const std::vector<std::string> fields = absl::StrSplit(stat.substr(stat.rfind(')') + 2), ' ');
  if (fields.size() < 4) return {-1, -1};
  return {std::stoi(fields[2]), std::stoi(fields[3])};
}

class SpawnTest : public ::testing::Test {
 protected:
  pid_t Start(bool own_process_group) {
    SpawnRequest request;
    request.argv = {"sleep", "30"};
    request.env = {"PATH=/usr/bin:/bin"};
    request.own_process_group = own_process_group;
    absl::StatusOr<pid_t> pid = Spawn(request);
    EXPECT_OK(pid);
    if (pid.ok()) started_.push_back(*pid);
    return pid.ok() ? *pid : -1;
  }
  void TearDown() override {
    for (pid_t pid : started_) {
      ::kill(pid, SIGKILL);
      ::waitpid(pid, nullptr, 0);
    }
  }
  std::vector<pid_t> started_;
};

// mpiexec.hydra starts every rank in a session of its own; so does launch,
// or (with autogroup scheduling) its ranks share the caller's session's CPU
// time with whatever else runs there.
TEST_F(SpawnTest, ALaunchedRankLeadsItsOwnSessionAndGroup) {
  const pid_t pid = Start(true);
  ASSERT_GT(pid, 0);
  EXPECT_EQ(GroupAndSession(pid), std::make_pair(pid, pid));
}

TEST_F(SpawnTest, ABridgedCommandStaysInTheCallersSessionAndGroup) {
  const pid_t pid = Start(false);
  ASSERT_GT(pid, 0);
  EXPECT_EQ(GroupAndSession(pid), std::make_pair(::getpgrp(), ::getsid(0)));
}

TEST_F(SpawnTest, AMissingProgramIsAnErrorBeforeAnythingRuns) {
  SpawnRequest request;
  request.argv = {"pmi-shim-no-such-program"};
  request.env = {"PATH=/nonexistent"};
  absl::StatusOr<pid_t> pid = Spawn(request);
  ASSERT_FALSE(pid.ok());
  EXPECT_NE(pid.status().message().find("not found"), std::string::npos) << pid.status();
}

}  // namespace
}  // namespace pmi_shim::launch
