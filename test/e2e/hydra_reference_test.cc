// Reference runs of the test programs under the real MPICH launcher,
// mpiexec.hydra, in both rendezvous modes.
//
// The launcher tests trust mpi_collectives, pmi2_kvs and pmi_raw_client to
// tell a working PMI server from a broken one; this proves those programs
// right against a server known to work, so a launcher test failure points
// at the launcher. (Slurm's libpmi2 is not run with -pmi-port: hydra 4.0.2
// rejects its port-mode dialect, "unable to find pmirank token".)
#include <algorithm>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "test/e2e/launch_util.h"
#include "test/testing/launcher.h"
#include "test/testing/netns_test_main.h"
#include "test/testing/rank_lines.h"
#include "test/testing/runfiles.h"
#include "test/testing/subprocess.h"

namespace pmi_shim::e2e {
namespace {

using ::testing::HasSubstr;
using ::testing::SizeIs;
using ::testing::StartsWith;
using testutil::CollectivesText;
using testutil::HasOneLinePerRank;
using testutil::Lines;
using testutil::ModeName;
using testutil::PmiMode;
using testutil::ProgramPath;

// Runs COMMAND as N ranks of mpiexec.hydra in `mode` (whatever it leaves
// behind is killed, not judged: this is hydra's reference).
testutil::RunResult Hydra(PmiMode mode, int ranks, std::vector<std::string> command) {
  testutil::JobSpec spec;
  spec.launcher = testutil::Launcher::kHydra;
  spec.mode = mode;
  spec.ranks = ranks;
  spec.command = std::move(command);
  return RunOrAddFailure(spec).run;
}

class HydraReferenceTest : public ::testing::TestWithParam<PmiMode> {
 protected:
  void SetUp() override { PMI_SHIM_REQUIRE_PRIVATE_NETNS(); }

  testutil::RunResult Hydra(int ranks, std::vector<std::string> command) {
    return e2e::Hydra(GetParam(), ranks, std::move(command));
  }
};

TEST_P(HydraReferenceTest, MpiCollectives) {
  for (int n : {4, 16}) {
    testutil::RunResult run = Hydra(n, {ProgramPath("mpi_collectives")});
    ASSERT_EQ(run.exit_code, 0) << run.Describe();
    EXPECT_THAT(Lines(run.stdout_text), SizeIs(n)) << run.Describe();
    EXPECT_THAT(run.stdout_text, HasOneLinePerRank(n, CollectivesText(n))) << run.Describe();
  }
}

// PMI_FD only: hydra 4.0.2 rejects libpmi2's port-mode fullinit.
class HydraPmi2Test : public ::testing::Test {
 protected:
  void SetUp() override { PMI_SHIM_REQUIRE_PRIVATE_NETNS(); }
};

TEST_F(HydraPmi2Test, Pmi2KvsOverPmiFd) {
  testutil::RunResult run = Hydra(PmiMode::kFd, 4, {ProgramPath("pmi2_kvs")});
  ASSERT_EQ(run.exit_code, 0) << run.Describe();
  EXPECT_THAT(Lines(run.stdout_text), SizeIs(4)) << run.Describe();
  EXPECT_THAT(run.stdout_text, HasOneLinePerRank(4, StartsWith("pmi2 ok mapping=(vector,")))
      << run.Describe();
}

TEST_P(HydraReferenceTest, RawClientScript) {
  // The same building blocks the bad-input tests use, against hydra.
  testutil::RunResult run = Hydra(
      2,
      {ProgramPath("pmi_raw_client"), "initack", "send:cmd=init pmi_version=1 pmi_subversion=1\\n",
       "recv", "send:cmd=get_my_kvsname\\n", "recv",
       "send:cmd=put kvsname={kvsname} key=k{rank} value=", "repeat:v:1000", "send:\\n", "recv",
       "send:cmd=barrier_in\\n", "recv", "--rank=0", "send:cmd=get kvsname={kvsname} key=k1\\n",
       "recv", "--rank=*", "send:cmd=finalize\\n", "recv"});
  ASSERT_EQ(run.exit_code, 0) << run.Describe();
  std::vector<std::string> replies = Replies(run.stdout_text);
  auto count = [&](absl::string_view prefix) {
    return std::count_if(replies.begin(), replies.end(),
                         [&](const std::string& r) { return absl::StartsWith(r, prefix); });
  };
  EXPECT_EQ(count("cmd=response_to_init"), 2) << run.Describe();
  EXPECT_EQ(count("cmd=put_result rc=0"), 2) << run.Describe();
  EXPECT_EQ(count("cmd=barrier_out"), 2) << run.Describe();
  EXPECT_EQ(count("cmd=finalize_ack"), 2) << run.Describe();
  EXPECT_EQ(count("cmd=initack"), GetParam() == PmiMode::kPort ? 2 : 0);
  EXPECT_THAT(run.stdout_text, HasSubstr(absl::StrCat("value=", std::string(1000, 'v'))));
}

TEST_P(HydraReferenceTest, RawClientSeesAbortAndEof) {
  testutil::RunResult run =
      Hydra(1, {ProgramPath("pmi_raw_client"), "initack",
                "send:cmd=init pmi_version=1 pmi_subversion=1\\n", "recv",
                "send:cmd=abort exitcode=7 message=boom\\n", "recv", "sleep:20000"});
  EXPECT_EQ(run.exit_code, 7) << run.Describe();
  EXPECT_LT(run.wall, absl::Seconds(10)) << run.Describe();
}

INSTANTIATE_TEST_SUITE_P(Modes, HydraReferenceTest, ::testing::Values(PmiMode::kFd, PmiMode::kPort),
                         [](const ::testing::TestParamInfo<PmiMode>& info) {
                           return ModeName(info.param);
                         });

}  // namespace
}  // namespace pmi_shim::e2e
