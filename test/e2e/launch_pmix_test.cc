// End-to-end: real PMIx clients under `pmi-bridge launch --protocol pmix`
// (the embedded row of the translation matrix, PMIx column): an unmodified
// Open MPI 4.1 program (mpicc.openmpi) and a libpmix 4.2.2 probe, the two
// "wrong protocol" cases that end as N singletons (with the launcher's
// warning naming the fix), and the failure paths: a rank that exits without
// PMIx_Finalize, PMIx_Abort and MPI_Abort.
//
// pmix_ompi_app prints "rank R of N: allreduce=S allgather=ok" only when all
// N ranks found each other (N singletons would each say "of 1"); given the
// expected size as argument, a singleton fails with "FAIL ... (singleton?)".
// pmix_probe prints "rank R of N: pmix ok local=L/S" after a > 1 KiB value of
// every other rank came back through PMIx_Fence/PMIx_Get.
#include <sys/types.h>

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <ios>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
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
using ::testing::IsEmpty;
using ::testing::Not;
using testutil::HasOneLinePerRank;
using testutil::JobResult;
using testutil::JobSpec;
using testutil::Launcher;
using testutil::Lines;
using testutil::LinesStartingWith;
using testutil::ProgramPath;

constexpr int kRanks = 4;
// A job that must end by itself (failure paths) has to do so within this.
constexpr absl::Duration kFailureLimit = absl::Seconds(10);

std::string OmpiApp() { return ProgramPath("pmix_ompi_app"); }
std::string OmpiAbort() { return ProgramPath("mpi_abort_ompi"); }
std::string Probe() { return ProgramPath("pmix_probe"); }

// The lines of `text` that start with "rank ".
std::vector<std::string> RankLines(absl::string_view text) {
  return LinesStartingWith(text, "rank ");
}

// Exactly one "rank R of 4: TEXT" line per rank, TEXT matching `want` (a
// string, or one from the rank), and no other "rank ..." line.
template <typename Want>
void ExpectOneLinePerRank(const testutil::RunResult& run, Want want) {
  EXPECT_THAT(run.stdout_text, HasOneLinePerRank(kRanks, want)) << run.Describe();
}

// N singletons: every rank prints the same `line`, and nothing else.
void ExpectSameLineOnEveryRank(const testutil::RunResult& run, const std::string& line) {
  EXPECT_EQ(RankLines(run.stdout_text), std::vector<std::string>(kRanks, line)) << run.Describe();
}

class LaunchPmixTest : public ::testing::Test {
 protected:
  void SetUp() override { PMI_SHIM_REQUIRE_PRIVATE_NETNS(); }

  // `pmi-bridge launch -n 4 FLAGS -- COMMAND`, bounded by `timeout`, every
  // process it starts marked so that leftovers can be found.
  JobResult Launch(std::vector<std::string> flags, std::vector<std::string> command,
                   absl::Duration timeout = absl::Seconds(60),
                   std::vector<std::pair<std::string, std::string>> env = {}) {
    JobSpec spec;
    spec.launcher = Launcher::kBridgeLaunch;
    spec.ranks = kRanks;
    spec.launcher_flags = std::move(flags);
    spec.command = std::move(command);
    spec.timeout = timeout;
    AddPmixJobEnv(spec);
    for (auto& entry : env) spec.env.push_back(std::move(entry));
    return RunOrAddFailure(spec);
  }

  JobResult LaunchPmix(std::vector<std::string> command,
                       absl::Duration timeout = absl::Seconds(60)) {
    return Launch({"--protocol", "pmix"}, std::move(command), timeout);
  }

  static void ExpectNoLeftovers(const JobResult& out) {
    EXPECT_THAT(out.leftovers, IsEmpty()) << "processes still running after the launcher exited";
  }
};

// ---- PMIx programs that must join one job ----

TEST_F(LaunchPmixTest, OpenMpiProgramJoinsOneJob) {
  JobResult out = LaunchPmix({OmpiApp(), absl::StrCat(kRanks)});
  ASSERT_EQ(out.run.exit_code, 0) << out.run.Describe();
  ExpectOneLinePerRank(out.run, "allreduce=10 allgather=ok");
  EXPECT_THAT(out.run.stderr_text, Not(HasSubstr("none of the")));
  ExpectNoLeftovers(out);
}

// Shared memory off: the collectives then need each rank's TCP address,
// which Open MPI exchanges through the PMIx modex. (This test is about the
// TCP path, so it names the transport, and loopback, all a private network
// namespace has, which Open MPI's TCP skips unless told.)
TEST_F(LaunchPmixTest, OpenMpiProgramOverTcpOnly) {
  JobResult out =
      Launch({"--protocol", "pmix"}, {OmpiApp(), absl::StrCat(kRanks)}, absl::Seconds(60),
             {{"OMPI_MCA_btl", "self,tcp"}, {"OMPI_MCA_btl_tcp_if_include", "lo"}});
  ASSERT_EQ(out.run.exit_code, 0) << out.run.Describe();
  ExpectOneLinePerRank(out.run, "allreduce=10 allgather=ok");
  ExpectNoLeftovers(out);
}

TEST_F(LaunchPmixTest, LibpmixProbeExchangesValues) {
  JobResult out = LaunchPmix({Probe()});
  ASSERT_EQ(out.run.exit_code, 0) << out.run.Describe();
  ExpectOneLinePerRank(
      out.run, [](int rank) { return absl::StrFormat("pmix ok local=%d/%d", rank, kRanks); });
  ExpectNoLeftovers(out);
}

// Without PMIX_COLLECT_DATA every remote value is fetched on PMIx_Get.
TEST_F(LaunchPmixTest, LibpmixProbeWithoutCollectedData) {
  JobResult out = LaunchPmix({Probe(), "--no-collect", "--bytes", "20000"});
  ASSERT_EQ(out.run.exit_code, 0) << out.run.Describe();
  ExpectOneLinePerRank(
      out.run, [](int rank) { return absl::StrFormat("pmix ok local=%d/%d", rank, kRanks); });
  ExpectNoLeftovers(out);
}

// Env hygiene: a PMIx rank gets its PMIx rendezvous and none of PMI-1/PMI-2
// (never PMI_SIZE together with PMIX_NAMESPACE).
TEST_F(LaunchPmixTest, RanksGetAPmixRendezvousOnly) {
  JobResult out = LaunchPmix({"sh", "-c",
                              "echo \"env rank=${PMIX_RANK-unset} ns=${PMIX_NAMESPACE:+set} "
                              "uri=${PMIX_SERVER_URI41%%;*}|${PMIX_SERVER_URI41#*;} "
                              "pmi=$(env | grep -c '^PMI_')\""});
  ASSERT_EQ(out.run.exit_code, 0) << out.run.Describe();
  std::vector<std::string> lines = Lines(out.run.stdout_text);
  ASSERT_EQ(lines.size(), static_cast<size_t>(kRanks)) << out.run.Describe();
  std::sort(lines.begin(), lines.end());
  for (int rank = 0; rank < kRanks; ++rank) {
    EXPECT_THAT(lines[rank],
                ::testing::MatchesRegex(absl::StrCat(
                    "env rank=", rank, " ns=set uri=[^ |]+\\|tcp4://127\\.0\\.0\\.1:[0-9]+ pmi=0")))
        << out.run.Describe();
  }
  ExpectNoLeftovers(out);
}

// ---- The wrong protocol: N singletons, and a warning that names the fix ----

// MPICH speaks PMI-1 only: under --protocol pmix each rank runs alone.
TEST_F(LaunchPmixTest, MpichProgramUnderPmixRunsAsSingletonsAndIsWarned) {
  JobResult out = LaunchPmix({ProgramPath("mpi_collectives")});
  // What happens: every rank is a working singleton, so the job succeeds...
  EXPECT_EQ(out.run.exit_code, 0) << out.run.Describe();
  ExpectSameLineOnEveryRank(out.run, "rank 0 of 1: allreduce=1 allgather=ok");
  // ...and the launcher says why and what to do instead.
  EXPECT_THAT(out.run.stderr_text, HasSubstr("pmi-bridge: none of the 4 ranks used PMIx"))
      << out.run.Describe();
  EXPECT_THAT(out.run.stderr_text, HasSubstr("PMI-1/PMI-2 (MPICH)")) << out.run.Describe();
  EXPECT_THAT(out.run.stderr_text, HasSubstr("run it with --protocol auto")) << out.run.Describe();
  ExpectNoLeftovers(out);
}

// The reverse: an Open MPI program under the default (PMI-1/PMI-2) launch.
TEST_F(LaunchPmixTest, OpenMpiProgramUnderDefaultLaunchRunsAsSingletonsAndIsWarned) {
  JobResult out = Launch({}, {OmpiApp()});
  EXPECT_EQ(out.run.exit_code, 0) << out.run.Describe();
  ExpectSameLineOnEveryRank(out.run, "rank 0 of 1: allreduce=1 allgather=ok");
  EXPECT_THAT(out.run.stderr_text, HasSubstr("pmi-bridge: none of the 4 ranks used PMI-1/PMI-2"))
      << out.run.Describe();
  EXPECT_THAT(out.run.stderr_text, HasSubstr("PMIx (Open MPI)")) << out.run.Describe();
  EXPECT_THAT(out.run.stderr_text, HasSubstr("run it with --protocol pmix")) << out.run.Describe();
  ExpectNoLeftovers(out);
}

// Same, with a program that checks its size: the job fails, and the warning
// still comes (it is the one line that explains the failure).
TEST_F(LaunchPmixTest, OpenMpiSizeCheckFailsUnderDefaultLaunchAndIsWarned) {
  JobResult out = Launch({}, {OmpiApp(), absl::StrCat(kRanks)});
  EXPECT_NE(out.run.exit_code, 0) << out.run.Describe();
  EXPECT_FALSE(out.run.timed_out) << out.run.Describe();
  ExpectSameLineOnEveryRank(out.run, "rank 0 of 1: FAIL MPI size 1, expected 4 (singleton?)");
  EXPECT_THAT(out.run.stderr_text, HasSubstr("run it with --protocol pmix")) << out.run.Describe();
  ExpectNoLeftovers(out);
}

// ---- Failure paths: the job ends by itself, quickly, non-zero ----

// Rank 2 exits with status 3 right after PMIx_Init, without PMIx_Finalize,
// while the other ranks wait for it in PMIx_Fence.
TEST_F(LaunchPmixTest, RankExitingWithoutFinalizeEndsTheJob) {
  JobResult out = LaunchPmix({Probe(), "--vanish-rank", "2"}, absl::Seconds(30));
  EXPECT_FALSE(out.run.timed_out) << out.run.Describe();
  EXPECT_NE(out.run.exit_code, 0) << out.run.Describe();
  EXPECT_EQ(out.run.term_signal, 0) << out.run.Describe();
  EXPECT_LT(out.run.wall, kFailureLimit) << out.run.Describe();
  // Usually rank 2 is named; but libpmix fails the others' fence as soon as
  // rank 2's connection drops, and when their exits (status 1) are reaped
  // in the same batch as rank 2's, one of them may be the rank reported.
  EXPECT_THAT(out.run.stderr_text,
              ::testing::ContainsRegex("pmi-bridge: rank [0-3]: exited with code [13] after "
                                       "PMIx_Init without PMIx_Finalize"))
      << out.run.Describe();
  EXPECT_THAT(RankLines(out.run.stdout_text), Not(::testing::Contains(HasSubstr("pmix ok"))))
      << out.run.Describe();
  ExpectNoLeftovers(out);
}

// PMIx_Abort(7, "probe abort") from rank 1: the launcher exits with 7 and
// shows the message.
TEST_F(LaunchPmixTest, PmixAbortEndsTheJobWithItsCode) {
  JobResult out = LaunchPmix({Probe(), "--abort-rank", "1"}, absl::Seconds(30));
  EXPECT_FALSE(out.run.timed_out) << out.run.Describe();
  EXPECT_EQ(out.run.exit_code, 7) << out.run.Describe();
  EXPECT_LT(out.run.wall, kFailureLimit) << out.run.Describe();
  EXPECT_THAT(out.run.stderr_text,
              HasSubstr("pmi-bridge: rank 1: aborted the job with exit code 7: probe abort"))
      << out.run.Describe();
  ExpectNoLeftovers(out);
}

// MPI_Abort(MPI_COMM_WORLD, 7) in an Open MPI program (rank 1; the others
// wait in MPI_Barrier, then sleep 30 s): Open MPI turns it into PMIx_Abort.
TEST_F(LaunchPmixTest, OpenMpiAbortEndsTheJobWithItsCode) {
  JobResult out = LaunchPmix({OmpiAbort()}, absl::Seconds(30));
  EXPECT_FALSE(out.run.timed_out) << out.run.Describe();
  EXPECT_EQ(out.run.exit_code, 7) << out.run.Describe();
  EXPECT_LT(out.run.wall, kFailureLimit) << out.run.Describe();
  EXPECT_THAT(out.run.stderr_text, HasSubstr("rank 1 of 4: calling MPI_Abort(7)"))
      << out.run.Describe();
  EXPECT_THAT(out.run.stderr_text,
              HasSubstr("pmi-bridge: rank 1: aborted the job with exit code 7"))
      << out.run.Describe();
  ExpectNoLeftovers(out);
}

}  // namespace
}  // namespace pmi_shim::e2e
