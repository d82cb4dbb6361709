// PmixServer with real PMIx clients: libpmix 4.2.2 probes and an unmodified
// Open MPI 4.1 program, run by pmix_job_driver in a private network
// namespace (the driver enters it itself; the test is SKIPPED without one).
//
// Shapes: --servers 1 is `pmi-bridge launch` (one server, every rank local,
// libpmix completes fences itself); --servers K > 1 is `pmi-bridge exec`
// (K servers over one host KVS and barrier, every fence through fence_nb).
//
// The helpers in //test/testing (subprocess, runfiles, netns) are not
// visible from //bridge, hence the small runner below.
#include <fcntl.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace pmi_shim::downstream {
namespace {

using ::testing::AllOf;
using ::testing::HasSubstr;
using ::testing::Not;

struct DriverRun {
  int exit_code = -1;  // -1: killed or timed out
  std::string output;  // stdout and stderr, interleaved
  bool skipped = false;
};

std::string Runfile(const std::string& path) {
  const char* root = std::getenv("TEST_SRCDIR");
  return absl::StrCat(root != nullptr ? root : ".", "/pmi_shim/", path);
}

// Runs the driver with `args`, killing its process group after `timeout`.
DriverRun RunDriver(const std::vector<std::string>& args,
                    absl::Duration timeout = absl::Seconds(90)) {
  std::vector<std::string> argv = {Runfile("bridge/downstream/pmix_job_driver"), "--netns",
                                   "--timeout", "60"};
  argv.insert(argv.end(), args.begin(), args.end());
  int out[2];
  if (::pipe2(out, O_CLOEXEC) != 0) return {};
  const pid_t pid = ::fork();
  if (pid == 0) {
    ::setpgid(0, 0);
    ::dup2(out[1], STDOUT_FILENO);
    ::dup2(out[1], STDERR_FILENO);
    std::vector<char*> raw;
    for (std::string& arg : argv) raw.push_back(arg.data());
    raw.push_back(nullptr);
    ::execv(raw[0], raw.data());
    ::_exit(127);
  }
  ::close(out[1]);
  DriverRun run;
  const absl::Time deadline = absl::Now() + timeout;
  char buffer[4096];
  for (;;) {
    const int left = static_cast<int>(absl::ToInt64Milliseconds(deadline - absl::Now()));
    if (left <= 0) {
      ::kill(-pid, SIGKILL);
      run.output += "\n<timed out>";
      break;
    }
    pollfd pfd{out[0], POLLIN, 0};
    if (::poll(&pfd, 1, left) <= 0) continue;
    const ssize_t n = ::read(out[0], buffer, sizeof(buffer));
    if (n > 0) {
      run.output.append(buffer, n);
    } else if (n == 0 || errno != EINTR) {
      break;
    }
  }
  ::close(out[0]);
  int status = 0;
  ::waitpid(pid, &status, 0);
  ::kill(-pid, SIGKILL);  // nothing may outlive the test
  if (WIFEXITED(status)) run.exit_code = WEXITSTATUS(status);
  run.skipped = run.exit_code == 77;
  return run;
}

int CountLines(const std::string& output, const std::string& needle) {
  int count = 0;
  for (absl::string_view line : absl::StrSplit(output, '\n')) {
    if (absl::StrContains(line, needle)) ++count;
  }
  return count;
}

std::string Probe() { return Runfile("bridge/downstream/pmix_probe"); }
std::string OmpiApp() { return Runfile("bridge/downstream/bin/pmix_ompi_app"); }

#define SKIP_WITHOUT_NETNS(run)                      \
  do {                                               \
    if ((run).skipped) GTEST_SKIP() << (run).output; \
  } while (0)

TEST(PmixProbeTest, AllLocalRanksNeverReachTheHostFence) {
  DriverRun run = RunDriver({"--np", "4", "--", Probe()});
  SKIP_WITHOUT_NETNS(run);
  EXPECT_EQ(run.exit_code, 0) << run.output;
  for (int rank = 0; rank < 4; ++rank) {
    EXPECT_THAT(run.output,
                HasSubstr(absl::StrCat("rank ", rank, " of 4: pmix ok local=", rank, "/4")));
  }
  // libpmix 4.2.2 completes an all-local fence without the host.
  EXPECT_THAT(run.output, HasSubstr("server 0 ranks 0-3 fence_upcalls=0 direct_modex_upcalls=0"));
}

TEST(PmixProbeTest, TwoServersExchangeThroughTheHostKvs) {
  DriverRun run = RunDriver({"--np", "4", "--servers", "2", "--", Probe()});
  SKIP_WITHOUT_NETNS(run);
  EXPECT_EQ(run.exit_code, 0) << run.output;
  EXPECT_EQ(CountLines(run.output, "of 4: pmix ok local="), 4) << run.output;
  EXPECT_THAT(run.output, HasSubstr("rank 3 of 4: pmix ok local=1/2"));
  EXPECT_THAT(run.output, HasSubstr("server 0 ranks 0-1 fence_upcalls=2"));
  EXPECT_THAT(run.output, HasSubstr("server 1 ranks 2-3 fence_upcalls=2"));
}

TEST(PmixProbeTest, OneServerPerRankLikeExec) {
  DriverRun run = RunDriver({"--np", "4", "--servers", "4", "--", Probe()});
  SKIP_WITHOUT_NETNS(run);
  EXPECT_EQ(run.exit_code, 0) << run.output;
  EXPECT_EQ(CountLines(run.output, "of 4: pmix ok local=0/1"), 4) << run.output;
  EXPECT_EQ(CountLines(run.output, "fence_upcalls=2"), 4) << run.output;
}

TEST(PmixProbeTest, LargeValuesCrossTheKvsInManySegments) {
  DriverRun run = RunDriver({"--np", "3", "--servers", "3", "--", Probe(), "--bytes", "100000"});
  SKIP_WITHOUT_NETNS(run);
  EXPECT_EQ(run.exit_code, 0) << run.output;
  EXPECT_EQ(CountLines(run.output, "of 3: pmix ok"), 3) << run.output;
}

// Without PMIX_COLLECT_DATA the remote values come through direct_modex:
// each server publishes its ranks' data at the fence.
TEST(PmixProbeTest, NonCollectingFenceServesGetsThroughDirectModex) {
  DriverRun run = RunDriver({"--np", "4", "--servers", "2", "--", Probe(), "--no-collect"});
  SKIP_WITHOUT_NETNS(run);
  EXPECT_EQ(run.exit_code, 0) << run.output;
  EXPECT_EQ(CountLines(run.output, "of 4: pmix ok"), 4) << run.output;
  EXPECT_EQ(CountLines(run.output, "direct_modex_upcalls=2"), 2) << run.output;
  EXPECT_THAT(run.output, Not(HasSubstr("committed no data")));
}

TEST(PmixProbeTest, AbortCarriesCodeAndMessage) {
  DriverRun run = RunDriver({"--np", "4", "--", Probe(), "--abort-rank", "1"});
  SKIP_WITHOUT_NETNS(run);
  EXPECT_EQ(run.exit_code, 2) << run.output;
  EXPECT_THAT(run.output, HasSubstr("driver: abort rank 1 code 7: probe abort"));
}

TEST(PmixProbeTest, ExitWithoutFinalizeIsReportedLost) {
  DriverRun run = RunDriver({"--np", "4", "--", Probe(), "--vanish-rank", "2"});
  SKIP_WITHOUT_NETNS(run);
  EXPECT_EQ(run.exit_code, 2) << run.output;
  EXPECT_THAT(run.output,
              HasSubstr("driver: lost rank 2: rank 2: exited with status 3 after PMIx_Init "
                        "without PMIx_Finalize"));
}

// Ranks killed while the others wait in a fence: libpmix 4.2.2 can crash in
// PMIx_server_finalize after that, so the server must not finalize it; the
// driver then ends with its own status (2), never a signal. Repeated because
// the crash it guards against came about one run in three.
TEST(PmixProbeTest, ClientsKilledMidFenceDoNotCrashTheServer) {
  for (int attempt = 0; attempt < 8; ++attempt) {
    DriverRun run = RunDriver({"--timeout", "1", "--np", "4", "--", Probe(), "--hang-rank", "1"});
    SKIP_WITHOUT_NETNS(run);
    ASSERT_EQ(run.exit_code, 2) << "attempt " << attempt << "\n" << run.output;
    EXPECT_THAT(run.output, HasSubstr("driver: timeout: killing the ranks"));
  }
}

// For the tests about Open MPI's TCP path only: in a loopback-only network
// namespace its TCP BTL must be told to use lo. Everything else runs with
// Open MPI's default transports.
const char kOmpiLoopback[] = "OMPI_MCA_btl_tcp_if_include=lo";

TEST(OpenMpiTest, FourRanksUnderOneServerJoinOneJob) {
  DriverRun run = RunDriver({"--np", "4", "--", OmpiApp(), "4"});
  SKIP_WITHOUT_NETNS(run);
  EXPECT_EQ(run.exit_code, 0) << run.output;
  for (int rank = 0; rank < 4; ++rank) {
    EXPECT_THAT(run.output,
                HasSubstr(absl::StrCat("rank ", rank, " of 4: allreduce=10 allgather=ok")));
  }
  EXPECT_THAT(run.output, Not(HasSubstr("FAIL")));
}

TEST(OpenMpiTest, FourRanksOverTcpOnly) {
  DriverRun run = RunDriver({"--np", "4", "--env", kOmpiLoopback, "--env", "OMPI_MCA_btl=self,tcp",
                             "--", OmpiApp(), "4"});
  SKIP_WITHOUT_NETNS(run);
  EXPECT_EQ(run.exit_code, 0) << run.output;
  EXPECT_EQ(CountLines(run.output, "of 4: allreduce=10 allgather=ok"), 4) << run.output;
}

// One server per rank: every fence crosses the host's KVS (ModexExchange).
// Ranks of different servers are on different PMIx nodes, between which
// Open MPI has only TCP (here: loopback), so this test is about the TCP
// path too. (`pmi-bridge exec` no longer has this shape: a node's ranks
// share one node server, bridge/node.)
TEST(OpenMpiTest, OneServerPerRankExchangesThroughTheHost) {
  DriverRun run =
      RunDriver({"--np", "4", "--servers", "4", "--env", kOmpiLoopback, "--", OmpiApp(), "4"});
  SKIP_WITHOUT_NETNS(run);
  EXPECT_EQ(run.exit_code, 0) << run.output;
  EXPECT_EQ(CountLines(run.output, "of 4: allreduce=10 allgather=ok"), 4) << run.output;
  EXPECT_EQ(CountLines(run.output, "direct_modex_upcalls=0"), 4) << run.output;
}

// The control for ClientEnvironment's OMPI_MCA_schizo=ompi: with schizo/orte
// back in the list, Open MPI 4.1 ignores the PMIx server and every rank is a
// singleton of size 1.
TEST(OpenMpiTest, WithoutSchizoOmpiTheRanksAreSingletons) {
  DriverRun run =
      RunDriver({"--np", "2", "--env", "OMPI_MCA_schizo=ompi,orte", "--", OmpiApp(), "2"});
  SKIP_WITHOUT_NETNS(run);
  EXPECT_NE(run.exit_code, 0) << run.output;
  EXPECT_EQ(CountLines(run.output, "rank 0 of 1: FAIL MPI size 1, expected 2 (singleton?)"), 2)
      << run.output;
}

}  // namespace
}  // namespace pmi_shim::downstream
