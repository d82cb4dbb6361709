// End-to-end: `pmi-bridge exec` as every rank of a real MPICH launcher,
// mpiexec.hydra, with real clients behind it (MPICH, Slurm's libpmi2, the
// scripted raw client), in both of hydra's rendezvous modes (PMI_FD, and
// -pmi-port: PMI_PORT + PMI_ID).
//
// Each test checks the results the programs print (not just exit codes),
// and that nothing the job started is still running afterwards.
//
// Value sizes: Slurm's libpmi2 puts values of up to 1023 bytes. Through a
// PMI-1 upstream they must still fit hydra's 1024-byte PMI-1 line (the
// bridge once capped them near 905 bytes); the tests that catch that are
// Pmi2KvsInPortModeIsRepairedByTheBridge and Pmi2KvsOverPmiFd/pmi1.
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "test/e2e/exec_util.h"
#include "test/e2e/launch_util.h"
#include "test/testing/netns_test_main.h"

namespace pmi_shim::e2e {
namespace {

using ::testing::HasSubstr;
using ::testing::IsEmpty;

constexpr int kRanks = 4;

// Number of lines of `text` that start with `prefix`.
int CountLinesStartingWith(absl::string_view text, absl::string_view prefix) {
  std::vector<std::string> lines = Lines(text);
  return static_cast<int>(std::count_if(lines.begin(), lines.end(), [&](const std::string& l) {
    return absl::StartsWith(l, prefix);
  }));
}

// Every rank printed exactly its mpi_collectives line, and nothing else.
void ExpectCollectivesOk(const testutil::RunResult& run, int n) {
  EXPECT_EQ(run.exit_code, 0) << run.Describe();
  EXPECT_EQ(Lines(run.stdout_text).size(), static_cast<size_t>(n)) << run.Describe();
  for (int rank = 0; rank < n; ++rank) {
    EXPECT_EQ(CountLinesStartingWith(
                  run.stdout_text, absl::StrFormat("rank %d of %d: allreduce=%d allgather=ok", rank,
                                                   n, n * (n + 1) / 2)),
              1)
        << "rank " << rank << "\n"
        << run.Describe();
  }
}

// Every rank of pmi2_kvs checked all the others' values byte for byte.
void ExpectPmi2KvsOk(const testutil::RunResult& run, int n) {
  EXPECT_EQ(run.exit_code, 0) << run.Describe();
  EXPECT_EQ(Lines(run.stdout_text).size(), static_cast<size_t>(n)) << run.Describe();
  for (int rank = 0; rank < n; ++rank) {
    EXPECT_EQ(CountLinesStartingWith(run.stdout_text, absl::StrCat("rank ", rank, " of ", n,
                                                                   ": pmi2 ok mapping=(vector,")),
              1)
        << "rank " << rank << "\n"
        << run.Describe();
  }
}

class ExecHydraTest : public ::testing::TestWithParam<PmiMode> {
 protected:
  void SetUp() override { PMI_SHIM_REQUIRE_PRIVATE_NETNS(); }

  HydraOutcome Run(HydraSpec spec) {
    absl::StatusOr<HydraOutcome> out = RunHydra(spec);
    EXPECT_TRUE(out.ok()) << out.status() << " (is the mpich package installed?)";
    return out.ok() ? *std::move(out) : HydraOutcome{};
  }
};

TEST_P(ExecHydraTest, MpiCollectivesThroughTheBridge) {
  HydraSpec spec;
  spec.ranks = kRanks;
  spec.mode = GetParam();
  spec.command = {ProgramPath("mpi_collectives")};
  HydraOutcome out = Run(spec);
  ExpectCollectivesOk(out.run, kRanks);
  EXPECT_THAT(out.leftovers, IsEmpty());
}

// `pmi-bridge exec --trace FILE`: every rank's client messages and the
// bridge's answers, decoded, plus the exchange with hydra, in one file.
TEST_P(ExecHydraTest, TraceFileHoldsBothSidesOfEveryRank) {
  const std::string file = absl::StrCat(std::getenv("TEST_TMPDIR"), "/transcript.txt");
  HydraSpec spec;
  spec.ranks = 2;
  spec.mode = GetParam();
  spec.bridge_flags = {"--trace", file};
  spec.command = {ProgramPath("mpi_collectives")};
  HydraOutcome out = Run(spec);
  ExpectCollectivesOk(out.run, 2);
  std::ifstream in(file);
  std::stringstream text;
  text << in.rdbuf();
  for (int rank = 0; rank < 2; ++rank) {
    EXPECT_THAT(text.str(), HasSubstr(absl::StrCat("rank ", rank, " C->S cmd=init pmi_version=1")));
    EXPECT_THAT(text.str(), HasSubstr(absl::StrCat("rank ", rank, " S->C cmd=barrier_out")));
  }
  EXPECT_THAT(text.str(), HasSubstr("host <- cmd=barrier_in"));
  EXPECT_THAT(text.str(), ::testing::Not(HasSubstr("!!"))) << "no mismatch in a healthy job";
  std::remove(file.c_str());
}

// MPI_Abort(MPI_COMM_WORLD, 7) in rank 1 behind the bridge: hydra ends the
// job with 7, MPICH's own message reaches the output, nobody is left.
TEST_P(ExecHydraTest, MpiAbortEndsTheJobWithItsCode) {
  HydraSpec spec;
  spec.ranks = kRanks;
  spec.mode = GetParam();
  spec.command = {ProgramPath("mpi_abort")};
  spec.timeout = absl::Seconds(20);
  HydraOutcome out;
  // hydra 4.0.2 may exit on the abort before it forwarded the ranks' last
  // output (seen once in CI: exit 7, empty stderr, bare or bridged alike).
  // Every run must end right; the output is judged on the first run whose
  // output hydra delivered, out of three.
  for (int attempt = 0; attempt < 3; ++attempt) {
    out = Run(spec);
    EXPECT_FALSE(out.run.timed_out) << out.run.Describe();
    EXPECT_EQ(out.run.exit_code, 7) << out.run.Describe();
    EXPECT_LT(out.run.wall, absl::Seconds(10)) << out.run.Describe();
    EXPECT_THAT(out.leftovers, IsEmpty());
    if (!out.run.stderr_text.empty()) break;
  }
  EXPECT_THAT(out.run.stderr_text, HasSubstr("rank 1 of 4: calling MPI_Abort(7)"));
  EXPECT_THAT(out.run.stdout_text + out.run.stderr_text,
              HasSubstr("application called MPI_Abort(MPI_COMM_WORLD, 7)"))
      << out.run.Describe();
  EXPECT_THAT(out.leftovers, IsEmpty());
}

// The PMI-1 wire abort from a raw client: the exit code crosses the bridge.
// (hydra 4.0.2 itself prints no abort message, with or without the bridge.)
TEST_P(ExecHydraTest, RawPmi1AbortCarriesTheExitCode) {
  HydraSpec spec;
  spec.ranks = kRanks;
  spec.mode = GetParam();
  spec.command = {ProgramPath("pmi_raw_client"),
                  "initack",
                  "send:cmd=init pmi_version=1 pmi_subversion=1\\n",
                  "recv",
                  "--rank=1",
                  "send:cmd=abort exitcode=7 message=boom\\n",
                  "sleep:30000",
                  "--rank=0",
                  "send:cmd=barrier_in\\n",
                  "recv",
                  "sleep:30000",
                  "--rank=2",
                  "send:cmd=barrier_in\\n",
                  "recv",
                  "sleep:30000",
                  "--rank=3",
                  "send:cmd=barrier_in\\n",
                  "recv",
                  "sleep:30000"};
  spec.timeout = absl::Seconds(20);
  HydraOutcome out = Run(spec);
  EXPECT_FALSE(out.run.timed_out) << out.run.Describe();
  EXPECT_EQ(out.run.exit_code, 7) << out.run.Describe();
  EXPECT_LT(out.run.wall, absl::Seconds(10)) << out.run.Describe();
  EXPECT_THAT(out.leftovers, IsEmpty());
}

INSTANTIATE_TEST_SUITE_P(Modes, ExecHydraTest, ::testing::Values(PmiMode::kFd, PmiMode::kPort),
                         [](const ::testing::TestParamInfo<PmiMode>& info) {
                           return ModeName(info.param);
                         });

// Slurm's libpmi2 in PMI_PORT mode sends "fullinit;srcid=N" without the
// initack that hydra 4.0.2 wants ("unable to find pmirank token"): the
// dialect mismatch the bridge exists to repair. Both halves in one test, so
// the reference failure and the repair are seen side by side.
class ExecHydraPmi2Test : public ::testing::Test {
 protected:
  void SetUp() override { PMI_SHIM_REQUIRE_PRIVATE_NETNS(); }
};

TEST_F(ExecHydraPmi2Test, Pmi2KvsInPortModeIsRepairedByTheBridge) {
  HydraSpec spec;
  spec.ranks = kRanks;
  spec.mode = PmiMode::kPort;
  spec.command = {ProgramPath("pmi2_kvs")};
  spec.timeout = absl::Seconds(30);

  spec.bridge = false;
  absl::StatusOr<HydraOutcome> direct = RunHydra(spec);
  ASSERT_TRUE(direct.ok()) << direct.status();
  EXPECT_NE(direct->run.exit_code, 0) << "hydra accepted libpmi2's port mode?\n"
                                      << direct->run.Describe();
  EXPECT_THAT(direct->run.stdout_text + direct->run.stderr_text, HasSubstr("pmirank"))
      << direct->run.Describe();
  EXPECT_THAT(direct->leftovers, IsEmpty());

  spec.bridge = true;
  absl::StatusOr<HydraOutcome> bridged = RunHydra(spec);
  ASSERT_TRUE(bridged.ok()) << bridged.status();
  ExpectPmi2KvsOk(bridged->run, kRanks);
  EXPECT_THAT(bridged->leftovers, IsEmpty());
}

// libpmi2 over hydra's PMI_FD through the bridge, with the upstream forced
// to PMI-1 (the bridge translates PMI-2 to PMI-1) or to PMI-2 (it relays).
// libpmi2 also runs directly under hydra over PMI_FD, so a passing job alone
// would not show the bridge carried anything: each rank prints the socket
// hydra gave it before the bridge, and the program the socket it got behind
// the bridge (exec_util.h, PrintingPmiFd), whose other end the bridge holds.
class ExecHydraUpstreamTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override { PMI_SHIM_REQUIRE_PRIVATE_NETNS(); }
};

TEST_P(ExecHydraUpstreamTest, Pmi2KvsOverPmiFdGoesThroughTheBridge) {
  absl::StatusOr<std::string> bridge = BridgePath();
  ASSERT_TRUE(bridge.ok()) << bridge.status();
  std::vector<std::string> bridged = {*bridge, "exec", "--upstream", GetParam(), "--"};
  for (std::string& word : PrintingPmiFd("child", {ProgramPath("pmi2_kvs")})) {
    bridged.push_back(std::move(word));
  }
  HydraSpec spec;
  spec.ranks = kRanks;
  spec.mode = PmiMode::kFd;
  spec.bridge = false;  // the bridge is in the command, behind the "host" printer
  spec.command = PrintingPmiFd("host", bridged);
  spec.timeout = absl::Seconds(30);
  absl::StatusOr<HydraOutcome> out = RunHydra(spec);
  ASSERT_TRUE(out.ok()) << out.status();
  ExpectPmiFdThroughTheBridge(out->run.stdout_text, kRanks);
  testutil::RunResult program_output = out->run;
  program_output.stdout_text.clear();
  for (const std::string& line : Lines(out->run.stdout_text)) {
    if (!absl::StartsWith(line, "host ") && !absl::StartsWith(line, "child ")) {
      absl::StrAppend(&program_output.stdout_text, line, "\n");
    }
  }
  ExpectPmi2KvsOk(program_output, kRanks);
  EXPECT_THAT(out->leftovers, IsEmpty());
}

INSTANTIATE_TEST_SUITE_P(Upstreams, ExecHydraUpstreamTest, ::testing::Values("pmi1", "pmi2"),
                         [](const ::testing::TestParamInfo<std::string>& info) {
                           return info.param;
                         });

}  // namespace
}  // namespace pmi_shim::e2e
