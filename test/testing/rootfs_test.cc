// BuildRootfs: the rootfs it makes really runs busybox and a copied
// dynamically linked host program (chroot into it), and ldd's output is
// parsed into the loader's files.
#include "test/testing/rootfs.h"

#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <string>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "test/testing/status_matchers.h"
#include "test/testing/subprocess.h"

namespace pmi_shim::testutil {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

std::string TempDir(const std::string& name) {
  const char* base = getenv("TEST_TMPDIR");
  std::string dir = absl::StrCat(base ? base : "/tmp", "/", name, ".", getpid());
  std::filesystem::remove_all(dir);
  return dir;
}

TEST(ParseLddOutput, TakesResolvedPathsAndLoaderSkipsVdso) {
  auto paths = ParseLddOutput(
      "\tlinux-vdso.so.1 (0x00007ffd)\n"
      "\tlibc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x00007f77)\n"
      "\t/lib64/ld-linux-x86-64.so.2 (0x00007f77dc7e4000)\n");
  ASSERT_OK(paths);
  EXPECT_THAT(*paths,
              ElementsAre("/lib/x86_64-linux-gnu/libc.so.6", "/lib64/ld-linux-x86-64.so.2"));
}

TEST(ParseLddOutput, StaticProgramHasNoLibraries) {
  auto paths = ParseLddOutput("\tnot a dynamic executable\n");
  ASSERT_OK(paths);
  EXPECT_TRUE(paths->empty());
}

TEST(ParseLddOutput, MissingLibraryIsAnErrorNamingIt) {
  auto paths = ParseLddOutput("\tlibgone.so.3 => not found\n");
  EXPECT_EQ(paths.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(paths.status().message(), HasSubstr("libgone.so.3"));
}

TEST(BuildRootfs, BusyboxAndACopiedDynamicProgramRunInsideIt) {
  if (geteuid() != 0) GTEST_SKIP() << "chroot needs root";
  std::string dir = TempDir("rootfs");
  RootfsSpec spec;
  // mpiexec.hydra links libslurm, libhwloc, libudev...: a real closure.
  spec.programs.push_back({"/usr/bin/mpiexec.hydra", "/app/hydra"});
  spec.files.push_back({"/app/hello.sh", "#!/bin/sh\necho hello from $(cat /etc/hostname)\n"});
  spec.files.push_back({"/etc/hostname", "box\n"});
  spec.dirs.push_back("/run/pmi-shim");
  ASSERT_OK(BuildRootfs(dir, spec));

  auto sh = RunSubprocess({"chroot", dir, "/app/hello.sh"}, {}, absl::Seconds(10));
  ASSERT_OK(sh);
  EXPECT_EQ(sh->exit_code, 0) << sh->Describe();
  EXPECT_EQ(sh->stdout_text, "hello from box\n");

  // Run with an empty environment so nothing from the host's loader setup helps.
  auto hydra = RunSubprocess({"chroot", dir, "/bin/env", "-i", "/app/hydra", "--version"}, {},
                             absl::Seconds(10));
  ASSERT_OK(hydra);
  EXPECT_EQ(hydra->exit_code, 0) << hydra->Describe();
  EXPECT_THAT(hydra->stdout_text, HasSubstr("HYDRA"));
  EXPECT_TRUE(std::filesystem::is_directory(dir + "/run/pmi-shim"));
  EXPECT_TRUE(std::filesystem::exists(dir + "/etc/ld.so.cache"));

  // Refuses to build over an existing rootfs.
  EXPECT_EQ(BuildRootfs(dir, spec).code(), absl::StatusCode::kAlreadyExists);

  std::string tar = dir + ".tar";
  ASSERT_OK(WriteRootfsTar(dir, tar));
  auto list = RunSubprocess({"tar", "-tf", tar}, {}, absl::Seconds(10));
  ASSERT_OK(list);
  EXPECT_THAT(list->stdout_text, HasSubstr("./usr/bin/busybox"));
  std::filesystem::remove_all(dir);
  std::filesystem::remove(tar);
}

}  // namespace
}  // namespace pmi_shim::testutil
