// Resolving mount targets inside a hostile rootfs: links of every kind are
// refused with nothing created outside or inside, and what is created is
// listed and removed exactly. No privilege needed.
#include "hook/apply/rootfs_path.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "test/testing/status_matchers.h"

namespace pmi_shim::hook {
namespace {

using Kind = MountStep::Kind;

bool Exists(const std::string& path) {
  struct stat st;
  return ::lstat(path.c_str(), &st) == 0;
}

class RootfsPathTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const char* tmp = std::getenv("TEST_TMPDIR");
    std::string base = absl::StrCat(tmp ? tmp : "/tmp", "/rootfsXXXXXX");
    ASSERT_NE(::mkdtemp(base.data()), nullptr);
    top_ = base;
    rootfs_ = top_ + "/rootfs";
    outside_ = top_ + "/outside";
    ASSERT_EQ(::mkdir(rootfs_.c_str(), 0755), 0);
    ASSERT_EQ(::mkdir(outside_.c_str(), 0755), 0);
    root_.Reset(::open(rootfs_.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
    ASSERT_TRUE(root_.valid());
  }
  void TearDown() override { std::system(absl::StrCat("rm -rf '", top_, "'").c_str()); }

  void Symlink(const std::string& target, const std::string& link) {
    ASSERT_EQ(::symlink(target.c_str(), (rootfs_ + link).c_str()), 0) << link;
  }
  void Mkdir(const std::string& path) { ASSERT_EQ(::mkdir((rootfs_ + path).c_str(), 0755), 0); }

  // Resolving `target` must fail naming `culprit`, and leave both trees as they were.
  void ExpectRefused(const std::string& target, Kind kind, const std::string& culprit) {
    std::vector<std::string> seen;
    absl::StatusOr<ResolvedTarget> r = ResolveOrCreateTarget(
        root_.get(), target, kind, [&](const std::string& p) { seen.push_back(p); });
    ASSERT_FALSE(r.ok()) << target;
    EXPECT_EQ(r.status().code(), absl::StatusCode::kFailedPrecondition) << r.status();
    EXPECT_TRUE(absl::StrContains(r.status().message(), culprit + " in the image is a symlink"))
        << r.status();
    EXPECT_EQ(r.status().message().find('\n'), absl::string_view::npos);
    EXPECT_TRUE(seen.empty()) << "created " << seen.front();
    EXPECT_EQ(::rmdir(outside_.c_str()), 0) << "something was created outside the rootfs";
    ASSERT_EQ(::mkdir(outside_.c_str(), 0755), 0);
  }

  std::string top_, rootfs_, outside_;
  UniqueFd root_;
};

TEST_F(RootfsPathTest, CreatesMissingDirectoriesAndListsThem) {
  Mkdir("/run");
  std::vector<std::string> seen;
  absl::StatusOr<ResolvedTarget> r =
      ResolveOrCreateTarget(root_.get(), "/run/pmi-shim/deep", Kind::kDirectory,
                            [&](const std::string& p) { seen.push_back(p); });
  ASSERT_OK(r);
  EXPECT_TRUE(r->fd.valid());
  EXPECT_EQ(r->created, (std::vector<std::string>{"/run/pmi-shim", "/run/pmi-shim/deep"}));
  EXPECT_EQ(seen, r->created);
  struct stat st;
  ASSERT_EQ(::stat((rootfs_ + "/run/pmi-shim/deep").c_str(), &st), 0);
  EXPECT_TRUE(S_ISDIR(st.st_mode));

  ASSERT_OK(RemoveCreatedPaths(root_.get(), r->created));
  EXPECT_FALSE(Exists(rootfs_ + "/run/pmi-shim"));
  EXPECT_TRUE(Exists(rootfs_ + "/run")) << "a directory the image had must stay";
}

TEST_F(RootfsPathTest, CreatesAnEmptyFileForSocketsAndFiles) {
  for (Kind kind : {Kind::kSocket, Kind::kFile}) {
    absl::StatusOr<ResolvedTarget> r =
        ResolveOrCreateTarget(root_.get(), "/run/pmi-shim/pmi.sock", kind, nullptr);
    ASSERT_OK(r);
    EXPECT_EQ(r->created.size(), 3u);
    struct stat st;
    ASSERT_EQ(::lstat((rootfs_ + "/run/pmi-shim/pmi.sock").c_str(), &st), 0);
    EXPECT_TRUE(S_ISREG(st.st_mode));
    EXPECT_EQ(st.st_size, 0);
    ASSERT_OK(RemoveCreatedPaths(root_.get(), r->created));
    EXPECT_FALSE(Exists(rootfs_ + "/run"));
  }
}

TEST_F(RootfsPathTest, ReusesWhatExistsAndCreatesNothing) {
  Mkdir("/run");
  Mkdir("/run/pmi-shim");
  absl::StatusOr<ResolvedTarget> r =
      ResolveOrCreateTarget(root_.get(), "/run/pmi-shim", Kind::kDirectory, nullptr);
  ASSERT_OK(r);
  EXPECT_TRUE(r->created.empty());
}

TEST_F(RootfsPathTest, RefusesAnAbsoluteSymlinkOutOfTheRootfs) {
  Symlink(outside_, "/run");  // rootfs/run -> the host directory
  ExpectRefused("/run/pmi-shim", Kind::kDirectory, "/run");
}

TEST_F(RootfsPathTest, RefusesARelativeDotDotSymlink) {
  Mkdir("/usr");
  Symlink("../../outside", "/usr/lib");
  ExpectRefused("/usr/lib/pmi-shim", Kind::kDirectory, "/usr/lib");
}

TEST_F(RootfsPathTest, RefusesASymlinkInTheLastComponent) {
  Mkdir("/run");
  Mkdir("/run/pmi-shim");
  ASSERT_EQ(::close(::open((outside_ + "/victim").c_str(), O_CREAT | O_WRONLY, 0644)), 0);
  Symlink(outside_ + "/victim", "/run/pmi-shim/pmi.sock");
  std::vector<std::string> seen;
  absl::StatusOr<ResolvedTarget> r =
      ResolveOrCreateTarget(root_.get(), "/run/pmi-shim/pmi.sock", Kind::kSocket,
                            [&](const std::string& p) { seen.push_back(p); });
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(
      absl::StrContains(r.status().message(), "/run/pmi-shim/pmi.sock in the image is a symlink"))
      << r.status();
  EXPECT_TRUE(seen.empty());
}

TEST_F(RootfsPathTest, RefusesASymlinkIntoProc) {
  Symlink("/proc/self/root", "/run");
  ExpectRefused("/run/pmi-shim", Kind::kDirectory, "/run");
  Mkdir("/opt");
  Symlink("/proc/1/cwd", "/opt/pmi-shim");
  ExpectRefused("/opt/pmi-shim", Kind::kDirectory, "/opt/pmi-shim");
}

TEST_F(RootfsPathTest, RefusesADanglingSymlink) {
  Symlink("/nowhere/at/all", "/run");
  ExpectRefused("/run/pmi-shim", Kind::kDirectory, "/run");
}

TEST_F(RootfsPathTest, UndoesItsOwnCreationsWhenALaterComponentFails) {
  Mkdir("/a");
  ASSERT_EQ(::close(::open((rootfs_ + "/a/file").c_str(), O_CREAT | O_WRONLY, 0644)), 0);
  absl::StatusOr<ResolvedTarget> r =
      ResolveOrCreateTarget(root_.get(), "/a/file/x", Kind::kDirectory, nullptr);
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(absl::StrContains(r.status().message(), "/a/file in the image is not a directory"))
      << r.status();
  // And a wrong-typed last component:
  Mkdir("/b");
  r = ResolveOrCreateTarget(root_.get(), "/b/new/dir-not-file", Kind::kDirectory, nullptr);
  ASSERT_OK(r);
  absl::StatusOr<ResolvedTarget> wrong =
      ResolveOrCreateTarget(root_.get(), "/b/new/dir-not-file", Kind::kSocket, nullptr);
  EXPECT_FALSE(wrong.ok());
  EXPECT_TRUE(absl::StrContains(wrong.status().message(), "is a directory")) << wrong.status();
}

TEST_F(RootfsPathTest, RejectsMalformedContainerPaths) {
  for (const char* bad : {"", "relative", "/", "//", "/a/../b", "/a/./b", "/..", "/a\nb"}) {
    absl::StatusOr<ResolvedTarget> r =
        ResolveOrCreateTarget(root_.get(), bad, Kind::kDirectory, nullptr);
    EXPECT_FALSE(r.ok()) << bad;
    if (!r.ok()) {
      EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument) << bad;
    }
  }
}

TEST_F(RootfsPathTest, RemovalLeavesWhatIsNoLongerEmpty) {
  absl::StatusOr<ResolvedTarget> r =
      ResolveOrCreateTarget(root_.get(), "/run/pmi-shim", Kind::kDirectory, nullptr);
  ASSERT_OK(r);
  ASSERT_EQ(::close(::open((rootfs_ + "/run/written-by-app").c_str(), O_CREAT | O_WRONLY, 0644)),
            0);
  absl::Status removed = RemoveCreatedPaths(root_.get(), r->created);
  EXPECT_FALSE(removed.ok());
  EXPECT_FALSE(Exists(rootfs_ + "/run/pmi-shim"));
  EXPECT_TRUE(Exists(rootfs_ + "/run/written-by-app"));
  // Already gone is fine.
  ::unlink((rootfs_ + "/run/written-by-app").c_str());
  EXPECT_OK(RemoveCreatedPaths(root_.get(), r->created));
  EXPECT_FALSE(Exists(rootfs_ + "/run"));
}

TEST_F(RootfsPathTest, RemovalDoesNotFollowALinkSwappedIn) {
  absl::StatusOr<ResolvedTarget> r =
      ResolveOrCreateTarget(root_.get(), "/run/pmi-shim", Kind::kDirectory, nullptr);
  ASSERT_OK(r);
  // The image's process replaces our /run with a link to the host directory.
  ASSERT_EQ(::rmdir((rootfs_ + "/run/pmi-shim").c_str()), 0);
  ASSERT_EQ(::rmdir((rootfs_ + "/run").c_str()), 0);
  ASSERT_EQ(::mkdir((outside_ + "/pmi-shim").c_str(), 0755), 0);
  Symlink(outside_, "/run");
  (void)RemoveCreatedPaths(root_.get(), r->created);
  EXPECT_TRUE(Exists(outside_ + "/pmi-shim")) << "removal followed the image's link";
}

}  // namespace
}  // namespace pmi_shim::hook
