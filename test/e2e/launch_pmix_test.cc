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
#include "test/testing/netns_test_main.h"
#include "test/testing/processes.h"
#include "test/testing/runfiles.h"
#include "test/testing/subprocess.h"

namespace pmi_shim::e2e {
namespace {

using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;

constexpr int kRanks = 4;
// A job that must end by itself (failure paths) has to do so within this.
constexpr absl::Duration kFailureLimit = absl::Seconds(10);
// How long ranks killed by the launcher at its exit get to disappear.
constexpr absl::Duration kLeftoverGrace = absl::Milliseconds(500);

std::string Runfile(absl::string_view path) {
  absl::StatusOr<std::string> full = testutil::Runfile(path);
  return full.ok() ? *full : std::string(path);  // missing: the run reports it
}
std::string OmpiApp() { return Runfile("bridge/downstream/bin/pmix_ompi_app"); }
std::string OmpiAbort() { return Runfile("test/programs/bin/mpi_abort_ompi"); }
std::string Probe() { return Runfile("bridge/downstream/pmix_probe"); }

// Open MPI's TCP BTL skips loopback unless told otherwise, and loopback is
// all a private network namespace has.
const std::pair<std::string, std::string> kOmpiLoopback = {"OMPI_MCA_btl_tcp_if_include", "lo"};

// The lines of `text` that start with "rank ".
std::vector<std::string> RankLines(absl::string_view text) {
  std::vector<std::string> out;
  for (const std::string& line : Lines(text)) {
    if (absl::StartsWith(line, "rank ")) out.push_back(line);
  }
  return out;
}

// Exactly one `want(rank)` line per rank, and no other "rank ..." line.
template <typename Want>
void ExpectOneLinePerRank(const testutil::RunResult& run, Want want) {
  const std::vector<std::string> lines = RankLines(run.stdout_text);
  EXPECT_EQ(lines.size(), static_cast<size_t>(kRanks)) << run.Describe();
  for (int rank = 0; rank < kRanks; ++rank) {
    const std::string line = want(rank);
    EXPECT_EQ(std::count(lines.begin(), lines.end(), line), 1)
        << "want exactly one \"" << line << "\"\n"
        << run.Describe();
  }
}

// N singletons: every rank prints the same `line`, and nothing else.
void ExpectSameLineOnEveryRank(const testutil::RunResult& run, const std::string& line) {
  EXPECT_EQ(RankLines(run.stdout_text), std::vector<std::string>(kRanks, line)) << run.Describe();
}

// Open MPI names its session directory (TMPDIR/ompi.HOST.UID/pid.PID, with
// its PMIx shared-memory stores) after mpirun's pid, and in Bazel's sandbox
// every test has its own pid namespace: two tests running at once both have
// an mpirun with the same small pid and share /tmp, so one job's MPI_Init
// found the other's stores ("getting local rank failed"). Each test process
// hands its jobs a TMPDIR of its own.
std::string PrivateTmpdir() {
  static const std::string* const dir = [] {
    const char* given = std::getenv("TEST_TMPDIR");
    return new std::string(given != nullptr && *given != '\0' ? given : "/tmp");
  }();
  return *dir;
}

// For --config=asan. libpmix 4.2.2 never frees some memory of its own:
// what PMIx_Init and PMIx_server_init allocate (in pmix_rte_init: two small
// strings; in PMIx_server_init: the server's own structures) and what its
// progress thread (a libevent loop inside libpmix; pmi-bridge does not use
// libevent) allocates while serving clients. LeakSanitizer would then fail
// pmi-bridge and pmix_probe at exit (status 23, report on stderr) for leaks
// that no caller can free. The processes these tests start get exactly
// those stacks suppressed, unwound in full (libpmix has no frame pointers:
// the fast unwinder stops at its first frame and could not tell them from a
// value the bridge forgot to release); every other leak still fails the
// test. Binaries built without ASan ignore both variables.
std::vector<std::pair<std::string, std::string>> LibpmixLeakSuppression() {
  static const std::string* const path = [] {
    const char* dir = std::getenv("TEST_TMPDIR");
    auto* file = new std::string(absl::StrCat(dir != nullptr ? dir : "/tmp", "/libpmix-lsan.supp"));
    std::ofstream(*file) << "leak:pmix_rte_init\nleak:PMIx_server_init\nleak:event_base_loop\n";
    return file;
  }();
  auto appended = [](const char* name, const std::string& options) {
    const char* given = std::getenv(name);
    return std::make_pair(std::string(name), given != nullptr && *given != '\0'
                                                 ? absl::StrCat(given, ":", options)
                                                 : options);
  };
  return {appended("ASAN_OPTIONS", "fast_unwind_on_malloc=0"),
          appended("LSAN_OPTIONS", absl::StrCat("suppressions=", *path, ":print_suppressions=0"))};
}

struct JobOutcome {
  testutil::RunResult run;
  // Marked processes alive after the launcher exited (already SIGKILLed).
  std::vector<std::pair<pid_t, std::string>> leftovers;
};

class LaunchPmixTest : public ::testing::Test {
 protected:
  void SetUp() override { PMI_SHIM_REQUIRE_PRIVATE_NETNS(); }

  // `pmi-bridge launch -n 4 FLAGS -- COMMAND`, bounded by `timeout`, every
  // process it starts marked so that leftovers can be found.
  JobOutcome Launch(std::vector<std::string> flags, std::vector<std::string> command,
                    absl::Duration timeout = absl::Seconds(60),
                    std::vector<std::pair<std::string, std::string>> env = {}) {
    testutil::RunOptions options;
    options.argv = {Runfile("bridge/cli/pmi-bridge"), "launch", "-n", absl::StrCat(kRanks)};
    options.argv.insert(options.argv.end(), flags.begin(), flags.end());
    options.argv.push_back("--");
    options.argv.insert(options.argv.end(), command.begin(), command.end());
    options.env = std::move(env);
    options.env.push_back(kOmpiLoopback);
    for (auto& entry : LibpmixLeakSuppression()) options.env.push_back(std::move(entry));
    options.env.emplace_back("TMPDIR", PrivateTmpdir());
    const std::string marker = testutil::UniqueMarkerValue();
    options.env.emplace_back(testutil::kMarkerVar, marker);
    // The test may itself run under a launcher: the ranks see only their own.
    options.unset_env = {"PMI_FD",   "PMI_PORT",       "PMI_ID",   "PMI_RANK",
                         "PMI_SIZE", "PMIX_NAMESPACE", "PMIX_RANK"};
    options.timeout = timeout;
    JobOutcome outcome;
    absl::StatusOr<testutil::RunResult> run = testutil::RunSubprocess(options);
    EXPECT_TRUE(run.ok()) << run.status();
    if (run.ok()) outcome.run = *std::move(run);
    const absl::Time until = absl::Now() + kLeftoverGrace;
    outcome.leftovers = testutil::ProcessesWithMarker(marker);
    while (!outcome.leftovers.empty() && absl::Now() < until) {
      absl::SleepFor(absl::Milliseconds(20));
      outcome.leftovers = testutil::ProcessesWithMarker(marker);
    }
    testutil::KillProcesses(outcome.leftovers);
    return outcome;
  }

  JobOutcome LaunchPmix(std::vector<std::string> command,
                        absl::Duration timeout = absl::Seconds(60)) {
    return Launch({"--protocol", "pmix"}, std::move(command), timeout);
  }

  static void ExpectNoLeftovers(const JobOutcome& out) {
    EXPECT_THAT(out.leftovers, IsEmpty()) << "processes still running after the launcher exited";
  }
};

// ---- PMIx programs that must join one job ----

TEST_F(LaunchPmixTest, OpenMpiProgramJoinsOneJob) {
  JobOutcome out = LaunchPmix({OmpiApp(), absl::StrCat(kRanks)});
  ASSERT_EQ(out.run.exit_code, 0) << out.run.Describe();
  ExpectOneLinePerRank(out.run, [](int rank) {
    return absl::StrFormat("rank %d of %d: allreduce=10 allgather=ok", rank, kRanks);
  });
  EXPECT_THAT(out.run.stderr_text, Not(HasSubstr("none of the")));
  ExpectNoLeftovers(out);
}

// Shared memory off: the collectives then need each rank's TCP address,
// which Open MPI exchanges through the PMIx modex.
TEST_F(LaunchPmixTest, OpenMpiProgramOverTcpOnly) {
  JobOutcome out = Launch({"--protocol", "pmix"}, {OmpiApp(), absl::StrCat(kRanks)},
                          absl::Seconds(60), {{"OMPI_MCA_btl", "self,tcp"}});
  ASSERT_EQ(out.run.exit_code, 0) << out.run.Describe();
  ExpectOneLinePerRank(out.run, [](int rank) {
    return absl::StrFormat("rank %d of %d: allreduce=10 allgather=ok", rank, kRanks);
  });
  ExpectNoLeftovers(out);
}

TEST_F(LaunchPmixTest, LibpmixProbeExchangesValues) {
  JobOutcome out = LaunchPmix({Probe()});
  ASSERT_EQ(out.run.exit_code, 0) << out.run.Describe();
  ExpectOneLinePerRank(out.run, [](int rank) {
    return absl::StrFormat("rank %d of %d: pmix ok local=%d/%d", rank, kRanks, rank, kRanks);
  });
  ExpectNoLeftovers(out);
}

// Without PMIX_COLLECT_DATA every remote value is fetched on PMIx_Get.
TEST_F(LaunchPmixTest, LibpmixProbeWithoutCollectedData) {
  JobOutcome out = LaunchPmix({Probe(), "--no-collect", "--bytes", "20000"});
  ASSERT_EQ(out.run.exit_code, 0) << out.run.Describe();
  ExpectOneLinePerRank(out.run, [](int rank) {
    return absl::StrFormat("rank %d of %d: pmix ok local=%d/%d", rank, kRanks, rank, kRanks);
  });
  ExpectNoLeftovers(out);
}

// Env hygiene: a PMIx rank gets its PMIx rendezvous and none of PMI-1/PMI-2
// (never PMI_SIZE together with PMIX_NAMESPACE).
TEST_F(LaunchPmixTest, RanksGetAPmixRendezvousOnly) {
  JobOutcome out = LaunchPmix({"sh", "-c",
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
  JobOutcome out = LaunchPmix({ProgramPath("mpi_collectives")});
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
  JobOutcome out = Launch({}, {OmpiApp()});
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
  JobOutcome out = Launch({}, {OmpiApp(), absl::StrCat(kRanks)});
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
  JobOutcome out = LaunchPmix({Probe(), "--vanish-rank", "2"}, absl::Seconds(30));
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
  JobOutcome out = LaunchPmix({Probe(), "--abort-rank", "1"}, absl::Seconds(30));
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
  JobOutcome out = LaunchPmix({OmpiAbort()}, absl::Seconds(30));
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
