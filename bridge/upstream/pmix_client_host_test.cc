// PmixClientHost against a real PMIx server: Open MPI's mpirun.openmpi
// (PMIx 4.2.2) runs pmix_client_host_probe as the ranks of a job, inside a
// private network namespace (netns_test_main). Tests are SKIPPED without the
// namespace or without mpirun.openmpi (package openmpi-bin).
#include "bridge/upstream/pmix_client_host.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <csignal>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "common/event_loop.h"
#include "test/testing/launcher.h"
#include "test/testing/netns_test_main.h"
#include "test/testing/processes.h"
#include "test/testing/runfiles.h"
#include "test/testing/status_matchers.h"
#include "test/testing/subprocess.h"

namespace pmi_shim::upstream {
namespace {

using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::StartsWith;
using ::testing::UnorderedElementsAre;

constexpr char kMpirun[] = "mpirun.openmpi";

bool OnPath(const std::string& program) {
  const char* path = getenv("PATH");
  for (absl::string_view dir : absl::StrSplit(path == nullptr ? "" : path, ':')) {
    if (access(absl::StrCat(dir, "/", program).c_str(), X_OK) == 0) return true;
  }
  return false;
}

// Every PMIx variable of this process (mpirun sets none, but a test run
// under a PMIx launcher would), so a child starts with none.
std::vector<std::string> PmixVariables() {
  std::vector<std::string> names;
  for (char** entry = environ; *entry != nullptr; ++entry) {
    absl::string_view text = *entry;
    if (absl::StartsWith(text, "PMIX_")) names.emplace_back(text.substr(0, text.find('=')));
  }
  return names;
}

std::vector<std::string> Lines(const std::string& text) {
  return absl::StrSplit(absl::StripSuffix(text, "\n"), '\n', absl::SkipEmpty());
}

class PmixClientHostTest : public ::testing::Test {
 protected:
  void SetUp() override {
    PMI_SHIM_REQUIRE_PRIVATE_NETNS();
    absl::StatusOr<std::string> probe = testutil::Runfile("bridge/upstream/pmix_client_host_probe");
    ASSERT_OK(probe);
    probe_ = *probe;
  }

  void RequireMpirun() {
    if (!OnPath(kMpirun)) GTEST_SKIP() << kMpirun << " not on PATH (apt-get install openmpi-bin)";
  }

  // mpirun with the flags this machine needs (reference/real-peers.md).
  testutil::RunOptions Mpirun(int ranks, std::vector<std::string> probe_args) const {
    testutil::JobSpec job;
    job.launcher = testutil::Launcher::kOpenMpi;
    job.program = kMpirun;
    job.ranks = ranks;
    job.command = {probe_};
    job.command.insert(job.command.end(), probe_args.begin(), probe_args.end());
    testutil::RunOptions options;
    options.argv = *testutil::LauncherArgv(job);
    options.unset_env = PmixVariables();
    // mpirun's session directory (and what a killed mpirun leaves of it)
    // stays in the test's own tmpdir.
    options.env = {{"TMPDIR", getenv("TEST_TMPDIR")}};
    options.timeout = absl::Seconds(60);
    return options;
  }

  // No process started with `marker` is still alive (after a grace period:
  // ranks may still be exiting when the launcher is gone).
  static void ExpectNothingLeft(const std::string& marker) {
    EXPECT_THAT(testutil::CollectLeftovers(marker, absl::Seconds(5)), IsEmpty());
  }

  std::string probe_;
};

TEST_F(PmixClientHostTest, FourRanksPutBarrierGetUnderMpirun) {
  RequireMpirun();
  absl::StatusOr<testutil::RunResult> run = testutil::RunSubprocess(Mpirun(4, {}));
  ASSERT_OK(run);
  ASSERT_EQ(run->exit_code, 0) << run->Describe();
  // All four ranks on this one node: one block of four.
  EXPECT_THAT(Lines(run->stdout_text),
              UnorderedElementsAre("rank 0 of 4: ok mapping=(vector,(0,1,4))",
                                   "rank 1 of 4: ok mapping=(vector,(0,1,4))",
                                   "rank 2 of 4: ok mapping=(vector,(0,1,4))",
                                   "rank 3 of 4: ok mapping=(vector,(0,1,4))"))
      << run->Describe();
}

TEST_F(PmixClientHostTest, WithoutPmixEnvironmentFailsWithOneLine) {
  testutil::RunOptions options;
  options.argv = {probe_};
  options.unset_env = PmixVariables();
  options.timeout = absl::Seconds(20);
  absl::StatusOr<testutil::RunResult> run = testutil::RunSubprocess(options);
  ASSERT_OK(run);
  EXPECT_EQ(run->exit_code, 1) << run->Describe();
  EXPECT_FALSE(run->timed_out);
  ASSERT_EQ(Lines(run->stderr_text).size(), 1u) << run->Describe();
  EXPECT_THAT(run->stderr_text,
              StartsWith("pmix_client_host_probe: no PMIx server to connect to (PMIX_NAMESPACE "
                         "is not set); start this under a PMIx launcher"));
}

// A PMIx environment whose server is not there: PMIx_Init fails, nothing
// hangs and nothing becomes a singleton.
TEST_F(PmixClientHostTest, UnreachableServerFailsWithOneLine) {
  testutil::RunOptions options;
  options.argv = {probe_};
  options.unset_env = PmixVariables();
  options.env = {{"PMIX_NAMESPACE", "gone"},
                 {"PMIX_RANK", "0"},
                 {"PMIX_SECURITY_MODE", "native"},
                 {"PMIX_SERVER_URI41", "gone.0;tcp4://127.0.0.1:9"},  // nobody listens
                 {"PMIX_SERVER_URI4", "gone.0;tcp4://127.0.0.1:9"}};
  options.timeout = absl::Seconds(60);
  absl::StatusOr<testutil::RunResult> run = testutil::RunSubprocess(options);
  ASSERT_OK(run);
  EXPECT_EQ(run->exit_code, 1) << run->Describe();
  EXPECT_FALSE(run->timed_out);
  const std::vector<std::string> lines = Lines(run->stderr_text);
  ASSERT_EQ(lines.size(), 1u) << run->Describe();
  EXPECT_THAT(lines[0], StartsWith("pmix_client_host_probe: cannot connect to the PMIx "
                                   "server of namespace gone (PMIx_Init: "))
      << run->Describe();
}

// The launcher is killed while three ranks wait in a barrier that the
// fourth never enters: every rank is told once, through on_upstream_lost,
// and exits; none hangs.
TEST_F(PmixClientHostTest, KilledServerFiresUpstreamLostOnEveryRank) {
  RequireMpirun();
  const std::string dir = absl::StrCat(getenv("TEST_TMPDIR"), "/lost");
  ASSERT_EQ(system(absl::StrCat("rm -rf ", dir, " && mkdir -p ", dir).c_str()), 0);
  testutil::RunOptions options = Mpirun(4, {"--stall-rank=1", absl::StrCat("--report-dir=", dir)});
  const std::string marker = testutil::UniqueMarkerValue();
  options.env.emplace_back(testutil::kMarkerVar, marker);
  options.signal_after = absl::Seconds(3);  // mpirun starts 4 ranks in ~0.3 s
  options.signal = SIGKILL;
  absl::StatusOr<testutil::RunResult> run = testutil::RunSubprocess(options);
  ASSERT_OK(run);
  ASSERT_EQ(run->term_signal, SIGKILL) << run->Describe();

  std::vector<std::string> reports;
  const absl::Time deadline = absl::Now() + absl::Seconds(20);
  while (reports.size() < 4 && absl::Now() < deadline) {
    reports.clear();
    for (int rank = 0; rank < 4; ++rank) {
      std::ifstream file(absl::StrCat(dir, "/rank.", rank));
      std::stringstream text;
      text << file.rdbuf();
      if (!text.str().empty()) reports.push_back(text.str());
    }
    if (reports.size() < 4) absl::SleepFor(absl::Milliseconds(50));
  }
  ASSERT_EQ(reports.size(), 4u) << "ranks that reported: " << absl::StrJoin(reports, "");
  for (const std::string& report : reports) {
    EXPECT_THAT(report, HasSubstr(": upstream lost: lost the connection to the PMIx server"));
  }
  ExpectNothingLeft(marker);
}

// A rank aborts (MPI_Abort through a PMI client): PMIx_Abort reaches
// mpirun, which ends the whole job with the client's exit code.
TEST_F(PmixClientHostTest, AbortEndsTheJobWithTheClientsExitCode) {
  RequireMpirun();
  testutil::RunOptions options = Mpirun(4, {"--abort-rank=2"});
  const std::string marker = testutil::UniqueMarkerValue();
  options.env.emplace_back(testutil::kMarkerVar, marker);
  absl::StatusOr<testutil::RunResult> run = testutil::RunSubprocess(options);
  ASSERT_OK(run);
  EXPECT_EQ(run->exit_code, 7) << run->Describe();
  ExpectNothingLeft(marker);
}

// In-process: no PMIx variables means no connection attempt at all.
TEST(PmixClientHostConnectTest, RefusesWithoutPmixEnvironment) {
  for (const std::string& name : PmixVariables()) unsetenv(name.c_str());
  EventLoop loop;
  absl::StatusOr<std::unique_ptr<PmixClientHost>> host = PmixClientHost::Connect(loop, {});
  EXPECT_EQ(host.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(host.status().message(), HasSubstr("mpirun.openmpi"));
}

}  // namespace
}  // namespace pmi_shim::upstream
