#include "shim-client/rendezvous_locator.h"

#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "test/testing/status_matchers.h"

namespace pmi_shim::shim_client {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

TEST(CandidateDirsTest, FlagReplacesTheSearch) {
  EXPECT_THAT(CandidateDirs("/x", "/host/dir"), ElementsAre("/x"));
}

TEST(CandidateDirsTest, ContainerDirFirstThenBindModePath) {
  EXPECT_THAT(CandidateDirs("", "/host/dir"), ElementsAre("/run/pmi-shim", "/host/dir"));
  EXPECT_THAT(CandidateDirs("", ""), ElementsAre("/run/pmi-shim"));
  EXPECT_THAT(CandidateDirs("", "/run/pmi-shim"), ElementsAre("/run/pmi-shim"));
}

struct EnvFileCase {
  std::string name;
  std::string text;
  bool ok;
  std::string protocol_or_error;
};

class InterpretEnvFileTest : public ::testing::TestWithParam<EnvFileCase> {};

TEST_P(InterpretEnvFileTest, Interprets) {
  const EnvFileCase& c = GetParam();
  absl::StatusOr<Rendezvous> r = InterpretEnvFile("/d", c.text);
  ASSERT_EQ(r.ok(), c.ok) << r.status();
  if (c.ok) {
    EXPECT_EQ(ProtocolName(r->protocol), c.protocol_or_error);
    EXPECT_EQ(r->SocketPath(), "/d/pmi.sock");
    EXPECT_EQ(r->PmixSocketPath(), "/d/pmix.sock");
  } else {
    EXPECT_THAT(std::string(r.status().message()), HasSubstr("/d/env"));
    EXPECT_THAT(std::string(r.status().message()), HasSubstr(c.protocol_or_error));
  }
}

INSTANTIATE_TEST_SUITE_P(
    Cases, InterpretEnvFileTest,
    ::testing::Values(
        EnvFileCase{"pmi1", "PMI_SHIM_PROTOCOL=pmi1\nPMI_RANK=0\nPMI_SIZE=2\n", true, "pmi1"},
        EnvFileCase{"pmi2", "# comment\n\nPMI_SHIM_PROTOCOL=pmi2\n", true, "pmi2"},
        EnvFileCase{"either", "PMI_SHIM_PROTOCOL=pmi\n", true, "pmi"},
        EnvFileCase{"pmix", "PMI_SHIM_PROTOCOL=pmix\nPMIX_RANK=1\n", true, "pmix"},
        EnvFileCase{"no_protocol", "PMI_RANK=0\n", false, "no PMI_SHIM_PROTOCOL"},
        EnvFileCase{"unknown", "PMI_SHIM_PROTOCOL=mpi\n", false, "unknown protocol 'mpi'"},
        EnvFileCase{"bad_line", "PMI_SHIM_PROTOCOL=pmi1\nnot a line\n", false, "line 2"}),
    [](const auto& info) { return info.param.name; });

class LocateTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char pattern[] = "/tmp/shim-locate-XXXXXX";
    ASSERT_NE(::mkdtemp(pattern), nullptr);
    root_ = pattern;
  }
  void TearDown() override { ASSERT_EQ(std::system(("rm -rf " + root_).c_str()), 0); }
  std::string MakeDir(const std::string& name, const std::string& env_text) {
    const std::string dir = root_ + "/" + name;
    ::mkdir(dir.c_str(), 0700);
    if (!env_text.empty()) std::ofstream(dir + "/env") << env_text;
    return dir;
  }
  std::string root_;
};

TEST_F(LocateTest, FirstDirectoryWithAnEnvFileWins) {
  const std::string empty = MakeDir("empty", "");
  const std::string a = MakeDir("a", "PMI_SHIM_PROTOCOL=pmi2\n");
  const std::string b = MakeDir("b", "PMI_SHIM_PROTOCOL=pmi1\n");
  absl::StatusOr<LocateResult> r = Locate({root_ + "/missing", empty, a, b});
  ASSERT_OK(r);
  ASSERT_TRUE(r->rendezvous.has_value());
  EXPECT_EQ(r->rendezvous->dir, a);
  EXPECT_EQ(r->rendezvous->protocol, Protocol::kPmi2);
  EXPECT_THAT(r->searched, ElementsAre(root_ + "/missing", empty, a));
}

TEST_F(LocateTest, NothingFoundIsNotAnError) {
  absl::StatusOr<LocateResult> r = Locate({root_ + "/missing"});
  ASSERT_OK(r);
  EXPECT_FALSE(r->rendezvous.has_value());
}

TEST_F(LocateTest, BrokenEnvFileIsAnErrorNotASingleton) {
  const std::string a = MakeDir("a", "garbage\n");
  absl::StatusOr<LocateResult> r = Locate({a});
  EXPECT_THAT(r, testutil::StatusIs(::testing::_, HasSubstr(a + "/env")));
}

}  // namespace
}  // namespace pmi_shim::shim_client
