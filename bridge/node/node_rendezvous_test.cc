// The node directory rendezvous with the real `pmi-bridge node-server`: the
// first joiner starts the server, the next one only connects, a stale socket
// (its server gone) is replaced, and the server removes the whole node
// directory once its last connection is gone.
#include "bridge/node/node_rendezvous.h"

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "bridge/node/node_plan.h"
#include "gtest/gtest.h"
#include "test/testing/runfiles.h"

namespace pmi_shim::node {
namespace {

bool Exists(const std::string& path) {
  struct stat info {};
  return ::lstat(path.c_str(), &info) == 0;
}

// Waits up to 5 s for `path` to disappear.
bool GoneSoon(const std::string& path) {
  for (int i = 0; i < 500 && Exists(path); ++i) absl::SleepFor(absl::Milliseconds(10));
  return !Exists(path);
}

class NodeRendezvousTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<std::string> bridge = testutil::Runfile("bridge/cli/pmi-bridge");
    ASSERT_TRUE(bridge.ok()) << bridge.status();
    std::string pattern = "/tmp/pmi-shim-rdv.XXXXXX";  // short: socket paths
    ASSERT_NE(::mkdtemp(pattern.data()), nullptr);
    options_.root = pattern;
    options_.name = "kvs_test-00000000.node0";
    options_.program = *bridge;
    directory_ = absl::StrCat(options_.root, "/", options_.name);
  }
  void TearDown() override {
    ::unlink(absl::StrCat(directory_, "/", kControlSocketName).c_str());
    ::unlink(absl::StrCat(directory_, "/", kLockFileName).c_str());
    ::rmdir(directory_.c_str());
    ::rmdir(options_.root.c_str());
  }

  JoinOptions options_;
  std::string directory_;
};

TEST_F(NodeRendezvousTest, FirstJoinerStartsTheServerTheNextConnects) {
  bool started = false;
  absl::StatusOr<UniqueFd> first = JoinNodeServer(options_, &started);
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_TRUE(started);
  EXPECT_TRUE(Exists(absl::StrCat(directory_, "/", kControlSocketName)));
  struct stat info {};
  ASSERT_EQ(::stat(directory_.c_str(), &info), 0);
  EXPECT_EQ(info.st_mode & 0777, 0700u);

  absl::StatusOr<UniqueFd> second = JoinNodeServer(options_, &started);
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_FALSE(started) << "a second server for the same node";

  // Nobody said hello: once both connections are gone the server ends and
  // leaves nothing of the node directory.
  first->Reset();
  second->Reset();
  EXPECT_TRUE(GoneSoon(directory_)) << directory_ << " still exists";
}

TEST_F(NodeRendezvousTest, AStaleSocketIsReplacedByANewServer) {
  ASSERT_EQ(::mkdir(options_.root.c_str(), 0755) == 0 || errno == EEXIST, true);
  ASSERT_EQ(::mkdir(directory_.c_str(), 0700), 0);
  // A socket file whose server is gone (bound, then closed).
  const std::string socket_path = absl::StrCat(directory_, "/", kControlSocketName);
  const int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  std::strcpy(address.sun_path, socket_path.c_str());
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)), 0);
  ::close(fd);

  bool started = false;
  absl::StatusOr<UniqueFd> joined = JoinNodeServer(options_, &started);
  ASSERT_TRUE(joined.ok()) << joined.status();
  EXPECT_TRUE(started);
  joined->Reset();
  EXPECT_TRUE(GoneSoon(directory_));
}

TEST_F(NodeRendezvousTest, ARootThatIsNotOursIsRefused) {
  ASSERT_EQ(::mkdir(options_.root.c_str(), 0755) == 0 || errno == EEXIST, true);
  // The node directory's place holds a symlink: never followed.
  ASSERT_EQ(::symlink("/tmp", directory_.c_str()), 0);
  bool started = false;
  absl::StatusOr<UniqueFd> joined = JoinNodeServer(options_, &started);
  EXPECT_FALSE(joined.ok());
  EXPECT_FALSE(started);
  ::unlink(directory_.c_str());
}

}  // namespace
}  // namespace pmi_shim::node
