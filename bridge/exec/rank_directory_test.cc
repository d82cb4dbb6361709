#include "bridge/exec/rank_directory.h"

#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>

#include "absl/strings/str_cat.h"
#include "common/rendezvous.h"
#include "gtest/gtest.h"
#include "test/testing/files.h"
#include "test/testing/status_matchers.h"

namespace pmi_shim::exec {
namespace {

using ::pmi_shim::testutil::ReadFile;

bool Exists(const std::string& path) {
  struct stat info {};
  return ::lstat(path.c_str(), &info) == 0;
}

class RankDirectoryTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_NE(::mkdtemp(root_), nullptr); }
  void TearDown() override { ::rmdir(root_); }
  char root_[32] = "/tmp/rank-dir-test-XXXXXX";
};

TEST_F(RankDirectoryTest, MakesAPrivateDirectoryWithTheEnvFileAndRemovesIt) {
  std::string path;
  {
    absl::StatusOr<std::unique_ptr<RankDirectory>> dir =
        RankDirectory::Create(root_, "kvs_12/odd name", 3);
    ASSERT_OK(dir);
    path = (*dir)->path();
    EXPECT_EQ(path, absl::StrCat(root_, "/kvs_12_odd_name.3.", ::getpid()));
    struct stat info {};
    ASSERT_EQ(::stat(path.c_str(), &info), 0);
    EXPECT_EQ(info.st_mode & 0777, 0700u);
    ASSERT_OK((*dir)->WriteEnv({{"PMI_RANK", "3"}, {"PMI_SIZE", "4"}}));
    EXPECT_EQ(ReadFile(path + "/env"), "PMI_RANK=3\nPMI_SIZE=4\n");
    EXPECT_FALSE(Exists(path + "/env.new"));
    // What an endpoint adds below it (the PMIx v1.2 endpoint's
    // pmix-v1/dstore/...) goes with it.
    ASSERT_EQ(::mkdir((path + "/pmix-v1").c_str(), 0700), 0);
    ASSERT_EQ(::mkdir((path + "/pmix-v1/dstore").c_str(), 0700), 0);
    std::ofstream(path + "/pmix-v1/dstore/smseg-0") << "x";
  }
  EXPECT_FALSE(Exists(path)) << "the rank directory outlived its bridge";
}

TEST_F(RankDirectoryTest, RemovesDirectoriesOfBridgesThatAreGone) {
  // A pid that cannot be alive: beyond the kernel's pid_max.
  const std::string stale = absl::StrCat(root_, "/kvs.0.99999999");
  ASSERT_EQ(::mkdir(stale.c_str(), 0700), 0);
  std::ofstream(stale + "/env") << "PMI_RANK=0\n";
  const std::string alive = absl::StrCat(root_, "/kvs.1.", ::getppid());
  ASSERT_EQ(::mkdir(alive.c_str(), 0700), 0);
  {
    absl::StatusOr<std::unique_ptr<RankDirectory>> dir = RankDirectory::Create(root_, "kvs", 2);
    ASSERT_OK(dir);
  }
  EXPECT_FALSE(Exists(stale));
  EXPECT_TRUE(Exists(alive)) << "removed the directory of a live bridge";
  ::rmdir(alive.c_str());
}

TEST_F(RankDirectoryTest, LongJobNamesStillMakeAUsableSocketPath) {
  const std::string job(200, 'j');
  absl::StatusOr<std::unique_ptr<RankDirectory>> dir = RankDirectory::Create(root_, job, 0);
  ASSERT_OK(dir);
  EXPECT_LT((*dir)->SocketPath().size(), 108u);
}

// A launcher SIGKILLs its ranks' process groups when a job fails: the
// bridge cannot clean up, its janitor does.
TEST_F(RankDirectoryTest, ADirectoryOutlivesNoBridgeEvenOneKilledBySigkill) {
  int report[2];
  ASSERT_EQ(::pipe(report), 0);
  const pid_t bridge = ::fork();
  if (bridge == 0) {
    ::setpgid(0, 0);  // as a rank's process group
    absl::StatusOr<std::unique_ptr<RankDirectory>> dir = RankDirectory::Create(root_, "job", 0);
    const std::string path = dir.ok() ? (*dir)->path() : "";
    ::mkdir((path + "/pmix-v1").c_str(), 0700);
    ::mkdir((path + "/pmix-v1/dstore").c_str(), 0700);
    for (const char* file : {"/pmix-v1/usock", "/pmix-v1/dstore/a", "/pmix-v1/dstore/b"}) {
      std::ofstream(path + file) << "x";
    }
    (void)!::write(report[1], path.data(), path.size());
    ::close(report[1]);
    ::pause();
    ::_exit(0);
  }
  ::close(report[1]);
  char buffer[256] = {};
  ASSERT_GT(::read(report[0], buffer, sizeof(buffer) - 1), 0);
  ::close(report[0]);
  const std::string path = buffer;
  ASSERT_TRUE(Exists(path));
  ::kill(-bridge, SIGKILL);  // the whole group, as hydra does
  ::waitpid(bridge, nullptr, 0);
  for (int i = 0; i < 200 && Exists(path); ++i) ::usleep(10000);
  EXPECT_FALSE(Exists(path)) << "the rank directory outlived a SIGKILLed bridge";
}

TEST(HostSharingFactsTest, NamesTheIpcNamespaceAndInodes) {
  rendezvous::EnvEntries facts = HostSharingFacts();
  EXPECT_EQ(rendezvous::FindEnv(facts, "PMI_SHIM_HOST_IPC_NS").rfind("ipc:[", 0), 0u);
  EXPECT_NE(rendezvous::FindEnv(facts, "PMI_SHIM_HOST_TMP").find(':'), std::string::npos);
}

}  // namespace
}  // namespace pmi_shim::exec
