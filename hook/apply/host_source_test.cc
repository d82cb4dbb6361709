// Host sources are checked at apply time: type, links, owner.
#include "hook/apply/host_source.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "test/testing/status_matchers.h"

namespace pmi_shim::hook {
namespace {

using Kind = MountStep::Kind;

class HostSourceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    // Not TEST_TMPDIR: a Unix socket path must fit in 108 bytes.
    std::string base = "/tmp/pmi-shim-srcXXXXXX";
    ASSERT_NE(::mkdtemp(base.data()), nullptr);
    dir_ = base;
    socket_path_ = dir_ + "/pmi.sock";
    listener_ = ::socket(AF_UNIX, SOCK_STREAM, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::strncpy(addr.sun_path, socket_path_.c_str(), sizeof(addr.sun_path) - 1);
    ASSERT_EQ(::bind(listener_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
    file_path_ = dir_ + "/env";
    ASSERT_EQ(::close(::open(file_path_.c_str(), O_CREAT | O_WRONLY, 0644)), 0);
  }
  void TearDown() override {
    ::close(listener_);
    std::system(absl::StrCat("rm -rf '", dir_, "'").c_str());
  }
  static void ExpectRefused(const absl::StatusOr<UniqueFd>& r, const std::string& words) {
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.status().code(), absl::StatusCode::kFailedPrecondition) << r.status();
    EXPECT_TRUE(absl::StrContains(r.status().message(), words)) << r.status();
    EXPECT_EQ(r.status().message().find('\n'), absl::string_view::npos);
  }

  std::string dir_, socket_path_, file_path_;
  int listener_ = -1;
};

TEST_F(HostSourceTest, AcceptsTheExpectedTypes) {
  const uid_t me = ::getuid();
  EXPECT_OK(OpenHostSource(socket_path_, Kind::kSocket, me));
  EXPECT_OK(OpenHostSource(dir_, Kind::kDirectory, me));
  EXPECT_OK(OpenHostSource(file_path_, Kind::kFile, me));
}

TEST_F(HostSourceTest, RefusesTheWrongType) {
  const uid_t me = ::getuid();
  ExpectRefused(OpenHostSource(dir_, Kind::kSocket, me), "is a directory, expected a Unix socket");
  ExpectRefused(OpenHostSource(file_path_, Kind::kDirectory, me),
                "is a regular file, expected a directory");
  ExpectRefused(OpenHostSource(socket_path_, Kind::kFile, me),
                "is a Unix socket, expected a regular file");
}

TEST_F(HostSourceTest, RefusesSymlinksAnywhereInThePath) {
  ASSERT_EQ(::symlink(socket_path_.c_str(), (dir_ + "/link.sock").c_str()), 0);
  ExpectRefused(OpenHostSource(dir_ + "/link.sock", Kind::kSocket, ::getuid()), "symlink");
  ASSERT_EQ(::symlink(dir_.c_str(), (dir_ + "/linkdir").c_str()), 0);
  ExpectRefused(OpenHostSource(dir_ + "/linkdir/pmi.sock", Kind::kSocket, ::getuid()), "symlink");
}

TEST_F(HostSourceTest, RefusesASocketOwnedByAnotherUser) {
  if (::chown(socket_path_.c_str(), 12345, 12345) != 0) {
    GTEST_SKIP() << "cannot chown to uid 12345 here (not root, or a user namespace): "
                 << std::strerror(errno);
  }
  ASSERT_EQ(::chown(dir_.c_str(), 12345, 12345), 0);
  ExpectRefused(OpenHostSource(socket_path_, Kind::kSocket, 0),
                "owned by uid 12345, not by the container's user (uid 0)");
  ExpectRefused(OpenHostSource(dir_, Kind::kDirectory, 0), "owned by uid 12345");
  // The container's own user may own it.
  EXPECT_OK(OpenHostSource(socket_path_, Kind::kSocket, 12345));
  // Root-owned (the administrator's) is accepted for any container user.
  ASSERT_EQ(::chown(socket_path_.c_str(), 0, 0), 0);
  EXPECT_OK(OpenHostSource(socket_path_, Kind::kSocket, 1000));
}

TEST_F(HostSourceTest, MissingAndRelativePaths) {
  absl::StatusOr<UniqueFd> missing = OpenHostSource(dir_ + "/nope", Kind::kSocket, 0);
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(OpenHostSource("relative/path", Kind::kSocket, 0).status().code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace pmi_shim::hook
