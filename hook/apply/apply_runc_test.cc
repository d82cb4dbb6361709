// The applier as real runc hooks: createRuntime applies (bind of a rank
// directory, a TCP relay into runc's fresh network namespace), the
// container's busybox shell checks it from inside, poststop cleans up; then
// nothing is left: no record, no created path, no relay process.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <sstream>
#include <string>

#include <nlohmann/json.hpp>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/unique_fd.h"
#include "gtest/gtest.h"
#include "hook/apply/container_fixture.h"
#include "test/testing/netns_test_main.h"
#include "test/testing/processes.h"
#include "test/testing/runfiles.h"
#include "test/testing/status_matchers.h"
#include "test/testing/subprocess.h"

namespace pmi_shim::hook {
namespace {

using nlohmann::json;

bool Exists(const std::string& path) {
  struct stat st;
  return ::lstat(path.c_str(), &st) == 0;
}

// A child serving `count` connections on `listen_fd`: replies "got:" + the
// first read, then closes.
pid_t Answer(int listen_fd, int count) {
  const pid_t child = ::fork();
  if (child == 0) {
    ::fcntl(listen_fd, F_SETFL, 0);
    for (int i = 0; i < count; ++i) {
      int conn = ::accept(listen_fd, nullptr, nullptr);
      char buffer[256];
      ssize_t n = ::read(conn, buffer, sizeof(buffer));
      std::string reply = "got:" + std::string(buffer, n > 0 ? n : 0);
      (void)!::write(conn, reply.data(), reply.size());
      ::close(conn);
    }
    ::_exit(0);
  }
  return child;
}

class ApplyRuncTest : public ::testing::Test {
 protected:
  void SetUp() override {
    PMI_SHIM_REQUIRE_PRIVATE_NETNS();
    if (::geteuid() != 0) GTEST_SKIP() << "needs root (runc)";
    if (::access("/usr/sbin/runc", X_OK) != 0) GTEST_SKIP() << "runc is not installed";
    top_ = testing::MakeTempDir("pmi-runc-");
    ASSERT_FALSE(top_.empty());
    bundle_ = top_ + "/bundle";
    rootfs_ = bundle_ + "/rootfs";
    ASSERT_EQ(::mkdir(bundle_.c_str(), 0755), 0);
    ASSERT_OK(testing::MakeBusyboxRootfs(rootfs_));
    absl::StatusOr<std::string> probe = testutil::Runfile("hook/apply/unix_probe_static");
    ASSERT_OK(probe);
    ASSERT_EQ(std::system(absl::StrCat("cp '", *probe, "' '", rootfs_, "/probe'").c_str()), 0);
    absl::StatusOr<std::string> tool = testutil::Runfile("hook/apply/apply_tool");
    ASSERT_OK(tool);
    tool_ = *tool;
    host_dir_ = top_ + "/rank0";
    ASSERT_EQ(::mkdir(host_dir_.c_str(), 0700), 0);
    state_dir_ = top_ + "/state";
    runc_root_ = top_ + "/runc";
    marker_ = testutil::UniqueMarkerValue();
  }
  void TearDown() override {
    if (top_.empty()) return;
    (void)testutil::RunSubprocess({"runc", "--root", runc_root_, "delete", "-f", kId}, {},
                                  absl::Seconds(20));
    testutil::KillProcesses(testutil::ProcessesWithMarker(marker_));
    testing::RemoveTree(top_);
  }

  void WriteConfig(const std::string& script, int port) {
    ASSERT_EQ(std::system(absl::StrCat("cd '", bundle_, "' && runc spec").c_str()), 0);
    std::ifstream in(bundle_ + "/config.json");
    json config = json::parse(in);
    config["root"] = {{"path", "rootfs"}, {"readonly", false}};
    config["process"]["terminal"] = false;
    config["process"]["args"] = {"/bin/sh", "-c", script};
    const json env = {absl::StrCat(testutil::kMarkerVar, "=", marker_)};
    config["hooks"]["createRuntime"] = {
        {{"path", tool_},
         {"args",
          {"pmi-shim-hook", "apply", "--state-dir", state_dir_, "--mount",
           absl::StrCat(host_dir_, "=/run/pmi-shim=dir=ro"), "--relay",
           absl::StrCat("127.0.0.1:", port)}},
         {"env", env}}};
    config["hooks"]["poststop"] = {
        {{"path", tool_},
         {"args", {"pmi-shim-hook", "cleanup", "--state-dir", state_dir_}},
         {"env", env}}};
    std::ofstream out(bundle_ + "/config.json");
    out << config.dump(2);
  }

  static constexpr char kId[] = "pmi-apply-runc";
  std::string top_, bundle_, rootfs_, tool_, host_dir_, state_dir_, runc_root_, marker_;
};

TEST_F(ApplyRuncTest, HooksCarryTheRendezvousInAndLeaveNothingBehind) {
  const int port = 5301;
  absl::StatusOr<int> unix_listener = testing::ListenUnix(host_dir_ + "/pmi.sock");
  ASSERT_OK(unix_listener);
  UniqueFd unix_fd(*unix_listener);
  absl::StatusOr<int> tcp = [&]() -> absl::StatusOr<int> {
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in in{};
    in.sin_family = AF_INET;
    in.sin_port = htons(port);
    in.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    const int one = 1;
    ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (::bind(fd, reinterpret_cast<sockaddr*>(&in), sizeof(in)) != 0 || ::listen(fd, 8) != 0) {
      return absl::ErrnoToStatus(errno, "listen");
    }
    return fd;
  }();
  ASSERT_OK(tcp);
  UniqueFd tcp_fd(*tcp);
  const pid_t unix_server = Answer(unix_fd.get(), 1);
  const pid_t tcp_server = Answer(tcp_fd.get(), 1);

  const std::vector<std::string> rootfs_before = testing::ListTree(rootfs_);
  WriteConfig(absl::StrCat("echo ls: $(ls /run/pmi-shim); "
                           "echo unix: $(/probe /run/pmi-shim/pmi.sock unix-token); "
                           "echo tcp: $(echo tcp-token | nc 127.0.0.1 ",
                           port,
                           "); "
                           "grep ' /run/pmi-shim ' /proc/self/mountinfo; "
                           "touch /run/pmi-shim/x 2>/dev/null && echo WRITABLE; true"),
              port);
  absl::StatusOr<testutil::RunResult> run = testutil::RunSubprocess(
      {"runc", "--root", runc_root_, "run", "--bundle", bundle_, kId}, {}, absl::Seconds(60));
  ASSERT_OK(run);
  EXPECT_EQ(run->exit_code, 0) << run->Describe();
  const std::string& out = run->stdout_text;
  EXPECT_TRUE(absl::StrContains(out, "ls: pmi.sock\n")) << run->Describe();
  EXPECT_TRUE(absl::StrContains(out, "unix: got:unix-token\n")) << run->Describe();
  EXPECT_TRUE(absl::StrContains(out, "tcp: got:tcp-token\n")) << run->Describe();
  const size_t line = out.find(" /run/pmi-shim ");
  ASSERT_NE(line, std::string::npos) << run->Describe();
  const std::string mountinfo = out.substr(line, out.find('\n', line) - line);
  EXPECT_TRUE(absl::StrContains(mountinfo, " ro,nosuid,nodev")) << mountinfo;
  EXPECT_FALSE(absl::StrContains(out, "WRITABLE")) << run->Describe();

  for (pid_t server : {unix_server, tcp_server}) {
    int wstatus = 0;
    EXPECT_EQ(::waitpid(server, &wstatus, 0), server);
  }
  // runc ran poststop when the container ended: everything is gone.
  EXPECT_FALSE(Exists(state_dir_ + "/" + kId + ".json")) << "the record was left";
  EXPECT_EQ(testing::ListTree(rootfs_), rootfs_before) << "created paths were left in the rootfs";
  EXPECT_TRUE(testutil::ProcessesWithMarker(marker_).empty()) << "a relay was left running";
  EXPECT_TRUE(Exists(host_dir_ + "/pmi.sock"));
}

TEST_F(ApplyRuncTest, ARefusedPlanFailsTheStartWithOneLine) {
  // The image turns /run into a link to a host directory.
  ASSERT_EQ(::symlink(top_.c_str(), (rootfs_ + "/run").c_str()), 0);
  const std::vector<std::string> rootfs_before = testing::ListTree(rootfs_);
  const std::vector<std::string> top_before = testing::ListTree(top_);
  WriteConfig("echo STARTED", 5302);
  absl::StatusOr<testutil::RunResult> run = testutil::RunSubprocess(
      {"runc", "--root", runc_root_, "run", "--bundle", bundle_, kId}, {}, absl::Seconds(60));
  ASSERT_OK(run);
  EXPECT_NE(run->exit_code, 0) << run->Describe();
  EXPECT_FALSE(absl::StrContains(run->stdout_text, "STARTED")) << run->Describe();
  EXPECT_TRUE(absl::StrContains(run->stderr_text, "/run in the image is a symlink"))
      << run->Describe();
  EXPECT_EQ(testing::ListTree(rootfs_), rootfs_before);
  EXPECT_FALSE(Exists(state_dir_ + "/" + kId + ".json"));
  EXPECT_TRUE(testutil::ProcessesWithMarker(marker_).empty());
}

}  // namespace
}  // namespace pmi_shim::hook
