// ApplyPlan / CleanupContainer against real mount and network namespaces (a
// NamespaceHolder process plays the container's init at createRuntime):
// mounts land only in the container's namespace with nosuid,nodev,ro; relays
// reach the host server from inside; every security rule refuses with one
// line and leaves nothing mounted, created, recorded or running.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sched.h>
#include <seccomp.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/sockets.h"
#include "common/unique_fd.h"
#include "gtest/gtest.h"
#include "hook/apply/apply.h"
#include "hook/apply/container_fixture.h"
#include "hook/apply/relay_daemon.h"
#include "hook/plan.h"
#include "test/testing/files.h"
#include "test/testing/netns_test_main.h"
#include "test/testing/runfiles.h"
#include "test/testing/status_matchers.h"

namespace pmi_shim::hook {
namespace {

using ::pmi_shim::testutil::ReadFile;

using testing::ListTree;
using testing::MountsUnder;
using Kind = MountStep::Kind;

bool Exists(const std::string& path) {
  struct stat st;
  return ::lstat(path.c_str(), &st) == 0;
}

bool ProcessAlive(pid_t pid) {
  const std::string stat = ReadFile(absl::StrCat("/proc/", pid, "/stat"));
  const size_t paren = stat.rfind(')');
  return paren != std::string::npos && stat.size() > paren + 2 && stat[paren + 2] != 'Z';
}

// In a child that joins `pid`'s namespace of `type`, runs `body`; its exit code.
int InNamespace(pid_t pid, const char* ns, int nstype, const std::function<int()>& body) {
  const pid_t child = ::fork();
  if (child == 0) {
    int fd = ::open(absl::StrCat("/proc/", pid, "/ns/", ns).c_str(), O_RDONLY);
    if (fd < 0 || ::setns(fd, nstype) != 0) ::_exit(90);
    ::_exit(body());
  }
  int wstatus = 0;
  ::waitpid(child, &wstatus, 0);
  return WIFEXITED(wstatus) ? WEXITSTATUS(wstatus) : 100 + WTERMSIG(wstatus);
}

class ApplyNamespaceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    PMI_SHIM_REQUIRE_PRIVATE_NETNS();
    if (::geteuid() != 0) GTEST_SKIP() << "needs root (mount namespaces)";
    top_ = testing::MakeTempDir("pmi-apply-");
    ASSERT_FALSE(top_.empty());
    rootfs_ = top_ + "/rootfs";
    host_dir_ = top_ + "/rank0";
    options_.state_dir = top_ + "/state";
    ASSERT_EQ(::mkdir(rootfs_.c_str(), 0755), 0);
    ASSERT_EQ(::mkdir(host_dir_.c_str(), 0700), 0);
    absl::StatusOr<int> listener = testing::ListenUnix(host_dir_ + "/pmi.sock");
    ASSERT_OK(listener);
    unix_listener_.Reset(*listener);
    absl::StatusOr<std::string> tool = testutil::Runfile("hook/apply/apply_tool");
    ASSERT_OK(tool);
    options_.self_path = *tool;
    ASSERT_TRUE(holder_.ok());
    plan_.container_id = "ctr-1";
    plan_.pid = holder_.pid();
    plan_.bundle = top_;
    plan_.rootfs = rootfs_;
    plan_.netns_path = absl::StrCat("/proc/", holder_.pid(), "/ns/net");
    plan_.private_netns = true;
  }
  void TearDown() override {
    holder_.Stop();
    if (!top_.empty()) testing::RemoveTree(top_);
  }

  std::string RecordPath() const { return options_.state_dir + "/" + plan_.container_id + ".json"; }

  // The failure contract: a one-line reason, nothing mounted in the
  // container, nothing created in the rootfs, no record.
  void ExpectRefusedCleanly(const absl::Status& status, const std::string& words) {
    ASSERT_FALSE(status.ok());
    EXPECT_TRUE(absl::StrContains(status.message(), words)) << status;
    EXPECT_EQ(status.message().find('\n'), absl::string_view::npos) << status;
    EXPECT_TRUE(MountsUnder(holder_.pid(), rootfs_).empty()) << "a mount was left";
    EXPECT_EQ(ListTree(rootfs_), rootfs_before_) << "the rootfs was changed";
    EXPECT_FALSE(Exists(RecordPath())) << "a record was left";
  }

  std::string top_, rootfs_, host_dir_;
  std::vector<std::string> rootfs_before_;
  UniqueFd unix_listener_;
  testing::NamespaceHolder holder_;
  ApplyOptions options_;
  Plan plan_;
};

MountStep DirStep(const std::string& source, const std::string& target) {
  MountStep step;
  step.source = source;
  step.target = target;
  step.kind = Kind::kDirectory;
  return step;
}

TEST_F(ApplyNamespaceTest, BindsReadOnlyIntoTheContainerOnlyAndCleansUp) {
  plan_.mounts.push_back(DirStep(host_dir_, "/run/pmi-shim"));
  MountStep socket = DirStep(host_dir_ + "/pmi.sock", "/opt/pmi/pmi.sock");
  socket.kind = Kind::kSocket;
  socket.read_only = false;
  plan_.mounts.push_back(socket);
  ASSERT_OK(ApplyPlan(plan_, options_));

  const std::string target = rootfs_ + "/run/pmi-shim";
  std::vector<testing::MountEntry> mounts = MountsUnder(holder_.pid(), target);
  ASSERT_EQ(mounts.size(), 1u);
  for (const char* flag : {"ro", "nosuid", "nodev"}) {
    EXPECT_TRUE(
        absl::StrContains(absl::StrCat(",", mounts[0].options, ","), absl::StrCat(",", flag, ",")))
        << flag << " missing in " << mounts[0].options;
  }
  mounts = MountsUnder(holder_.pid(), rootfs_ + "/opt/pmi/pmi.sock");
  ASSERT_EQ(mounts.size(), 1u);
  EXPECT_TRUE(absl::StartsWith(mounts[0].options, "rw,")) << mounts[0].options;
  EXPECT_TRUE(MountsUnder(::getpid(), rootfs_).empty()) << "the host's namespace got a mount";

  // The socket is connectable through both mounts inside the container's namespace.
  for (const std::string& path : {target + "/pmi.sock", rootfs_ + "/opt/pmi/pmi.sock"}) {
    EXPECT_EQ(InNamespace(
                  holder_.pid(), "mnt", CLONE_NEWNS,
                  [&] {
                    int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
                    sockaddr_un addr{};
                    addr.sun_family = AF_UNIX;
                    std::strncpy(addr.sun_path, path.c_str(), sizeof(addr.sun_path) - 1);
                    return ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0 ? 0
                                                                                                : 1;
                  }),
              0)
        << path;
  }
  // Read-only really is read-only.
  EXPECT_EQ(
      InNamespace(
          holder_.pid(), "mnt", CLONE_NEWNS,
          [&] { return ::mkdir((target + "/new").c_str(), 0755) != 0 && errno == EROFS ? 0 : 1; }),
      0);
  const std::string record = ReadFile(RecordPath());
  EXPECT_TRUE(absl::StrContains(record, R"("created":["/run","/run/pmi-shim"])")) << record;
  EXPECT_TRUE(absl::StrContains(record, R"("created":["/opt","/opt/pmi","/opt/pmi/pmi.sock"])"))
      << record;

  holder_.Stop();  // the container exits; poststop follows
  ASSERT_OK(CleanupContainer(plan_.container_id, options_));
  EXPECT_TRUE(ListTree(rootfs_).empty()) << "created paths were left in the rootfs";
  EXPECT_FALSE(Exists(RecordPath()));
  EXPECT_TRUE(Exists(host_dir_ + "/pmi.sock")) << "the host's socket must stay";
  EXPECT_OK(CleanupContainer(plan_.container_id, options_)) << "a second poststop is a no-op";
}

TEST_F(ApplyNamespaceTest, RefusesATargetBehindAnImageSymlink) {
  const std::string outside = top_ + "/outside";
  ASSERT_EQ(::mkdir(outside.c_str(), 0755), 0);
  ASSERT_EQ(::symlink(outside.c_str(), (rootfs_ + "/run").c_str()), 0);
  rootfs_before_ = ListTree(rootfs_);
  plan_.mounts.push_back(DirStep(host_dir_, "/run/pmi-shim"));
  ExpectRefusedCleanly(ApplyPlan(plan_, options_), "/run in the image is a symlink");
  EXPECT_TRUE(ListTree(outside).empty()) << "something was created through the link";
  EXPECT_TRUE(MountsUnder(holder_.pid(), outside).empty());
}

TEST_F(ApplyNamespaceTest, RefusesASourceOfTheWrongType) {
  MountStep step = DirStep(host_dir_, "/run/pmi-shim/pmi.sock");
  step.kind = Kind::kSocket;  // but the source is a directory
  plan_.mounts.push_back(step);
  ExpectRefusedCleanly(ApplyPlan(plan_, options_), "is a directory, expected a Unix socket");
}

TEST_F(ApplyNamespaceTest, RefusesASocketOwnedByAnotherUser) {
  ASSERT_EQ(::chown((host_dir_ + "/pmi.sock").c_str(), 12345, 12345), 0);
  MountStep step = DirStep(host_dir_ + "/pmi.sock", "/run/pmi-shim/pmi.sock");
  step.kind = Kind::kSocket;
  plan_.uid = 0;
  plan_.mounts.push_back(step);
  ExpectRefusedCleanly(ApplyPlan(plan_, options_), "owned by uid 12345");
}

TEST_F(ApplyNamespaceTest, AFailingSecondStepUndoesTheFirst) {
  plan_.mounts.push_back(DirStep(host_dir_, "/run/pmi-shim"));
  ASSERT_EQ(::mkdir((rootfs_ + "/opt").c_str(), 0755), 0);
  ASSERT_EQ(::symlink("/etc", (rootfs_ + "/opt/pmi-shim").c_str()), 0);
  rootfs_before_ = ListTree(rootfs_);
  plan_.mounts.push_back(DirStep(host_dir_, "/opt/pmi-shim"));
  ExpectRefusedCleanly(ApplyPlan(plan_, options_), "/opt/pmi-shim in the image is a symlink");
}

TEST_F(ApplyNamespaceTest, AFailingRelayUndoesTheMounts) {
  plan_.mounts.push_back(DirStep(host_dir_, "/run/pmi-shim"));
  plan_.relays.push_back({"127.0.0.1", 5999, "test"});
  options_.self_path = top_ + "/no-such-binary";
  ExpectRefusedCleanly(ApplyPlan(plan_, options_), "cannot run");
}

// Kernels without open_tree: the mount(2) fallback gives the same result.
// A seccomp filter makes open_tree fail with ENOSYS in a child that applies.
TEST_F(ApplyNamespaceTest, FallsBackToMountByPathWithoutOpenTree) {
  plan_.mounts.push_back(DirStep(host_dir_, "/run/pmi-shim"));
  const pid_t child = ::fork();
  if (child == 0) {
    scmp_filter_ctx filter = seccomp_init(SCMP_ACT_ALLOW);
    if (filter == nullptr ||
        seccomp_rule_add(filter, SCMP_ACT_ERRNO(ENOSYS), SCMP_SYS(open_tree), 0) != 0 ||
        seccomp_load(filter) != 0) {
      ::_exit(90);
    }
    ::_exit(ApplyPlan(plan_, options_).ok() ? 0 : 1);
  }
  int wstatus = 0;
  ASSERT_EQ(::waitpid(child, &wstatus, 0), child);
  ASSERT_TRUE(WIFEXITED(wstatus) && WEXITSTATUS(wstatus) == 0) << "status " << wstatus;
  std::vector<testing::MountEntry> mounts = MountsUnder(holder_.pid(), rootfs_ + "/run/pmi-shim");
  ASSERT_EQ(mounts.size(), 1u);
  EXPECT_TRUE(absl::StartsWith(mounts[0].options, "ro,nosuid,nodev")) << mounts[0].options;
  EXPECT_TRUE(MountsUnder(::getpid(), rootfs_).empty());
  holder_.Stop();
  ASSERT_OK(CleanupContainer(plan_.container_id, options_));
  EXPECT_TRUE(ListTree(rootfs_).empty());
}

// A host TCP server in a child process: accepts one connection, answers
// "got:" + what it read, exits 0.
pid_t StartHostServer(int port) {
  absl::StatusOr<TcpListener> listener = ListenTcp4("127.0.0.1", port);
  if (!listener.ok()) return -1;
  const pid_t child = ::fork();
  if (child == 0) {
    ::fcntl(listener->fd.get(), F_SETFL, 0);
    int conn = ::accept(listener->fd.get(), nullptr, nullptr);
    char buffer[256];
    ssize_t n = ::read(conn, buffer, sizeof(buffer));
    std::string reply = "got:" + std::string(buffer, n > 0 ? n : 0);
    (void)!::write(conn, reply.data(), reply.size());
    ::close(conn);
    ::_exit(n > 0 ? 0 : 1);
  }
  return child;
}

std::string TalkInContainer(pid_t pid, int port, const std::string& token) {
  int fds[2];
  if (::pipe(fds) != 0) return "";
  const int code = InNamespace(pid, "net", CLONE_NEWNET, [&] {
    int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in in{};
    in.sin_family = AF_INET;
    in.sin_port = htons(port);
    in.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(fd, reinterpret_cast<sockaddr*>(&in), sizeof(in)) != 0) return 1;
    (void)!::write(fd, token.data(), token.size());
    ::shutdown(fd, SHUT_WR);
    char buffer[256];
    ssize_t n;
    while ((n = ::read(fd, buffer, sizeof(buffer))) > 0) (void)!::write(fds[1], buffer, n);
    return 0;
  });
  ::close(fds[1]);
  std::string got;
  char buffer[256];
  ssize_t n;
  while ((n = ::read(fds[0], buffer, sizeof(buffer))) > 0) got.append(buffer, n);
  ::close(fds[0]);
  return code == 0 ? got : absl::StrCat("connect failed in the container (", code, ")");
}

TEST_F(ApplyNamespaceTest, RelayReachesTheHostFromInsideAsTheJobUser) {
  const int port = 5123;
  const pid_t server = StartHostServer(port);
  ASSERT_GT(server, 0);
  plan_.uid = 65534;
  plan_.gid = 65534;
  plan_.relays.push_back({"127.0.0.1", port, "test"});
  absl::Status applied = ApplyPlan(plan_, options_);
  ASSERT_OK(applied);

  EXPECT_EQ(TalkInContainer(holder_.pid(), port, "token-42"), "got:token-42");
  int wstatus = 0;
  ASSERT_EQ(::waitpid(server, &wstatus, 0), server);
  EXPECT_TRUE(WIFEXITED(wstatus) && WEXITSTATUS(wstatus) == 0);

  const std::string record = ReadFile(RecordPath());
  const size_t at = record.find("\"pid\":", record.find("\"relays\""));
  ASSERT_NE(at, std::string::npos) << record;
  const pid_t relay = std::atoi(record.c_str() + at + 6);
  ASSERT_GT(relay, 0) << record;
  const std::string status = ReadFile(absl::StrCat("/proc/", relay, "/status"));
  EXPECT_TRUE(absl::StrContains(status, "Uid:\t65534\t65534\t65534\t65534")) << status;
  EXPECT_TRUE(absl::StrContains(status, "Gid:\t65534\t65534\t65534\t65534")) << status;
  EXPECT_TRUE(absl::StrContains(status, "Seccomp:\t2")) << status;
  EXPECT_TRUE(absl::StrContains(status, "NoNewPrivs:\t1")) << status;

  // The container's init dies: the relay follows on its own.
  holder_.Stop();
  const absl::Time deadline = absl::Now() + absl::Seconds(5);
  while (ProcessAlive(relay) && absl::Now() < deadline) absl::SleepFor(absl::Milliseconds(20));
  EXPECT_FALSE(ProcessAlive(relay)) << "the relay outlived the container";
  ASSERT_OK(CleanupContainer(plan_.container_id, options_));
  EXPECT_FALSE(Exists(RecordPath()));
}

TEST_F(ApplyNamespaceTest, CleanupStopsARunningRelay) {
  plan_.relays.push_back({"127.0.0.1", 5124, "test"});
  ASSERT_OK(ApplyPlan(plan_, options_));
  const std::string record = ReadFile(RecordPath());
  const size_t at = record.find("\"pid\":", record.find("\"relays\""));
  const pid_t relay = std::atoi(record.c_str() + at + 6);
  ASSERT_TRUE(ProcessAlive(relay));
  ASSERT_OK(CleanupContainer(plan_.container_id, options_));
  EXPECT_FALSE(ProcessAlive(relay));
  EXPECT_FALSE(Exists(RecordPath()));
}

TEST_F(ApplyNamespaceTest, ARelayPortTakenInsideIsRefused) {
  // The second relay finds the port taken (by the first) inside the container.
  plan_.mounts.push_back(DirStep(host_dir_, "/run/pmi-shim"));
  plan_.relays.push_back({"127.0.0.1", 5125, "a"});
  plan_.relays.push_back({"127.0.0.1", 5125, "the same port twice"});
  ExpectRefusedCleanly(ApplyPlan(plan_, options_), "relay for 127.0.0.1:5125");
}

}  // namespace
}  // namespace pmi_shim::hook
