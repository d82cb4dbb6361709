// End-to-end: real MPICH programs (built with mpicc.mpich) under
// `pmi-bridge launch`, in both rendezvous modes, and Ctrl-C of a running job.
//
// mpi_collectives prints "rank R of N: allreduce=S allgather=ok" only when
// MPI_Init wired all N ranks together through the launcher's PMI service, so
// these tests fail if the launcher, its KVS or its barrier is missing.
#include <algorithm>
#include <csignal>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "test/testing/launcher.h"
#include "test/testing/netns_test_main.h"
#include "test/testing/rank_lines.h"
#include "test/testing/runfiles.h"
#include "test/testing/status_matchers.h"

namespace pmi_shim::e2e {
namespace {

using ::testing::IsEmpty;
using testutil::CollectivesText;
using testutil::HasOneLinePerRank;
using testutil::JobResult;
using testutil::JobSpec;
using testutil::Launcher;
using testutil::Lines;
using testutil::ModeName;
using testutil::PmiMode;
using testutil::ProgramPath;
using testutil::RunJob;

struct MpichCase {
  int ranks;
  PmiMode mode;
};

void PrintTo(const MpichCase& c, std::ostream* os) {
  *os << "n=" << c.ranks << " " << ModeName(c.mode);
}

class LaunchMpichTest : public ::testing::TestWithParam<MpichCase> {
 protected:
  void SetUp() override { PMI_SHIM_REQUIRE_PRIVATE_NETNS(); }
};

TEST_P(LaunchMpichTest, CollectivesAgreeOnEveryRank) {
  const int n = GetParam().ranks;
  JobSpec spec;
  spec.launcher = Launcher::kBridgeLaunch;
  spec.ranks = n;
  spec.mode = GetParam().mode;
  spec.command = {ProgramPath("mpi_collectives")};
  ASSERT_OK_AND_ASSIGN(JobResult out, RunJob(spec));
  ASSERT_EQ(out.run.exit_code, 0) << out.run.Describe();
  EXPECT_THAT(out.run.stdout_text, HasOneLinePerRank(n, CollectivesText(n))) << out.run.Describe();
  EXPECT_THAT(out.leftovers, IsEmpty());
}

INSTANTIATE_TEST_SUITE_P(
    RanksAndModes, LaunchMpichTest,
    ::testing::Values(MpichCase{1, PmiMode::kFd}, MpichCase{4, PmiMode::kFd},
                      MpichCase{16, PmiMode::kFd}, MpichCase{1, PmiMode::kPort},
                      MpichCase{4, PmiMode::kPort}, MpichCase{16, PmiMode::kPort}),
    [](const ::testing::TestParamInfo<MpichCase>& info) {
      return absl::StrCat("n", info.param.ranks, "_", ModeName(info.param.mode));
    });

// The rendezvous each mode promises. In port mode PMI_FD must be absent:
// MPICH checks PMI_FD first, so with both set the port path would go untested.
class LaunchEnvironmentTest : public ::testing::TestWithParam<PmiMode> {
 protected:
  void SetUp() override { PMI_SHIM_REQUIRE_PRIVATE_NETNS(); }
};

TEST_P(LaunchEnvironmentTest, RanksGetTheirRendezvous) {
  JobSpec spec;
  spec.launcher = Launcher::kBridgeLaunch;
  spec.ranks = 3;
  spec.mode = GetParam();
  // One line per rank; "sock" when PMI_FD is an open socket in the rank.
  spec.command = {"sh", "-c",
                  "s=nofd; [ -n \"$PMI_FD\" ] && [ -S /proc/$$/fd/$PMI_FD ] && s=sock; "
                  "echo \"env rank=${PMI_RANK-unset} size=${PMI_SIZE-unset} "
                  "fd=${PMI_FD-unset}:$s port=${PMI_PORT-unset} id=${PMI_ID-unset}\""};
  ASSERT_OK_AND_ASSIGN(JobResult out, RunJob(spec));
  ASSERT_EQ(out.run.exit_code, 0) << out.run.Describe();
  std::vector<std::string> lines = Lines(out.run.stdout_text);
  ASSERT_EQ(lines.size(), 3u) << out.run.Describe();
  std::sort(lines.begin(), lines.end());
  for (int rank = 0; rank < 3; ++rank) {
    const std::string& line = lines[rank];
    SCOPED_TRACE(line);
    EXPECT_TRUE(absl::StartsWith(line, absl::StrCat("env rank=", rank, " size=3 ")));
    if (GetParam() == PmiMode::kFd) {
      EXPECT_THAT(line, ::testing::MatchesRegex(".* fd=[0-9]+:sock .*"));
    } else {
      EXPECT_THAT(line, ::testing::HasSubstr(" fd=unset:nofd "));
      EXPECT_THAT(line, ::testing::MatchesRegex(".* port=127\\.0\\.0\\.1:[0-9]+ .*"));
      EXPECT_THAT(line, ::testing::EndsWith(absl::StrCat(" id=", rank)));
    }
  }
  EXPECT_THAT(out.leftovers, IsEmpty());
}

INSTANTIATE_TEST_SUITE_P(Modes, LaunchEnvironmentTest,
                         ::testing::Values(PmiMode::kFd, PmiMode::kPort),
                         [](const ::testing::TestParamInfo<PmiMode>& info) {
                           return ModeName(info.param);
                         });

class LaunchSignalTest : public ::testing::Test {
 protected:
  void SetUp() override { PMI_SHIM_REQUIRE_PRIVATE_NETNS(); }
};

// Ctrl-C: SIGINT to the launcher alone (as `kill -INT` would send it) must
// end the whole job quickly and leave no rank behind.
TEST_F(LaunchSignalTest, SigintEndsTheJobAndItsRanks) {
  JobSpec spec;
  spec.launcher = Launcher::kBridgeLaunch;
  spec.ranks = 2;
  // "started" proves both ranks were running when the signal came.
  spec.command = {"sh", "-c", "echo started; exec sleep 30"};
  spec.signal_after = absl::Milliseconds(1500);
  spec.signal = SIGINT;
  spec.timeout = absl::Seconds(20);
  ASSERT_OK_AND_ASSIGN(JobResult out, RunJob(spec));
  const testutil::RunResult& run = out.run;
  EXPECT_FALSE(run.timed_out) << run.Describe();
  EXPECT_EQ(Lines(run.stdout_text), std::vector<std::string>({"started", "started"}))
      << run.Describe();
  ASSERT_TRUE(run.after_signal.has_value()) << run.Describe();
  EXPECT_LT(*run.after_signal, absl::Seconds(3)) << run.Describe();
  EXPECT_TRUE(run.exit_code != 0 || run.term_signal != 0)
      << "an interrupted job must not report success\n"
      << run.Describe();
  EXPECT_THAT(out.leftovers, IsEmpty());
}

}  // namespace
}  // namespace pmi_shim::e2e
