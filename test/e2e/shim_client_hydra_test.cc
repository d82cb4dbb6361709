// End-to-end: pmi-shim-client behind the real bridge under the real MPICH
// launcher, without a container (the client's side of flows 2 and 5):
//
//   mpiexec.hydra -n 4 pmi-bridge exec --publish-dir DIR --
//       pmi-shim-client exec -- mpi_collectives
//
// The bridge publishes a rank directory (pmi.sock + env) and exports
// PMI_SHIM_DIR, as it does for a container engine; pmi-shim-client finds it
// in bind mode ($PMI_SHIM_DIR), connects, and execs the MPICH program with
// PMI_FD. `check` handshakes first and hangs up (a probe), after which the
// application connects afresh. Without any rendezvous `check` fails with the
// N-singletons message.
#include <dirent.h>
#include <stdlib.h>
#include <unistd.h>

#include <algorithm>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "test/e2e/launch_util.h"
#include "test/testing/launcher.h"
#include "test/testing/netns_test_main.h"
#include "test/testing/rank_lines.h"
#include "test/testing/runfiles.h"
#include "test/testing/status_matchers.h"
#include "test/testing/subprocess.h"

namespace pmi_shim::e2e {
namespace {

using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;
using ::testing::SizeIs;
using ::testing::StartsWith;
using testutil::CollectivesText;
using testutil::HasOneLinePerRank;
using testutil::JobResult;
using testutil::Lines;
using testutil::LinesStartingWith;
using testutil::ModeName;
using testutil::PmiMode;
using testutil::ProgramPath;

constexpr int kRanks = 4;

int CountLinesStartingWith(absl::string_view text, absl::string_view prefix) {
  return static_cast<int>(LinesStartingWith(text, prefix).size());
}

std::vector<std::string> DirEntries(const std::string& dir) {
  std::vector<std::string> names;
  DIR* d = ::opendir(dir.c_str());
  if (d == nullptr) return names;
  while (dirent* e = ::readdir(d)) {
    const std::string name = e->d_name;
    if (name != "." && name != "..") names.push_back(name);
  }
  ::closedir(d);
  return names;
}

class ShimClientHydraTest : public ::testing::TestWithParam<PmiMode> {
 protected:
  void SetUp() override {
    PMI_SHIM_REQUIRE_PRIVATE_NETNS();
    ASSERT_OK_AND_ASSIGN(shim_, testutil::Runfile("shim-client/pmi-shim-client"));
    char pattern[] = "/tmp/shim-e2e-XXXXXX";
    ASSERT_NE(::mkdtemp(pattern), nullptr);
    publish_dir_ = pattern;
  }
  void TearDown() override {
    if (publish_dir_.empty()) return;
    // The bridges remove their rank directories when their ranks end.
    EXPECT_THAT(DirEntries(publish_dir_), IsEmpty());
    ASSERT_EQ(std::system(("rm -rf " + publish_dir_).c_str()), 0);
  }

  JobResult Run(const std::vector<std::string>& command) {
    testutil::JobSpec spec;
    spec.launcher = testutil::Launcher::kHydra;
    spec.ranks = kRanks;
    spec.mode = GetParam();
    spec.command = testutil::BridgeExec({"--publish-dir", publish_dir_}, command);
    return RunOrAddFailure(spec);
  }

  std::string shim_;
  std::string publish_dir_;
};

TEST_P(ShimClientHydraTest, MpiCollectivesThroughTheRankDirectory) {
  JobResult out = Run({shim_, "exec", "--", ProgramPath("mpi_collectives")});
  EXPECT_EQ(out.run.exit_code, 0) << out.run.Describe();
  EXPECT_THAT(Lines(out.run.stdout_text), SizeIs(kRanks)) << out.run.Describe();
  EXPECT_THAT(out.run.stdout_text, HasOneLinePerRank(kRanks, CollectivesText(kRanks)))
      << out.run.Describe();
  // No singleton warning, no error line from the client.
  EXPECT_THAT(out.run.stderr_text, Not(HasSubstr("pmi-shim-client")));
  EXPECT_THAT(out.leftovers, IsEmpty());
}

// `check` on every rank, then the application through the same socket.
TEST_P(ShimClientHydraTest, CheckHandshakesThenTheApplicationConnectsAfresh) {
  JobResult out = Run({"/bin/sh", "-c", "\"$0\" check && exec \"$0\" exec -- \"$1\"", shim_,
                       ProgramPath("mpi_collectives")});
  EXPECT_EQ(out.run.exit_code, 0) << out.run.Describe();
  for (int rank = 0; rank < kRanks; ++rank) {
    const std::string check_line =
        absl::StrFormat("rank %d of %d, PMI-1 (wire 1.1) through %s/", rank, kRanks, publish_dir_);
    EXPECT_EQ(CountLinesStartingWith(out.run.stdout_text, check_line), 1) << check_line << "\n"
                                                                          << out.run.Describe();
    EXPECT_EQ(CountLinesStartingWith(out.run.stdout_text,
                                     absl::StrFormat("rank %d of %d: allreduce=", rank, kRanks)),
              1)
        << out.run.Describe();
  }
  EXPECT_EQ(CountLinesStartingWith(out.run.stdout_text, "rank "), 2 * kRanks) << out.run.Describe();
  for (const std::string& line : Lines(out.run.stdout_text)) {
    if (absl::StrContains(line, "PMI-1 (wire")) {
      EXPECT_THAT(line, HasSubstr("/pmi.sock, kvsname kvs_"));
      EXPECT_TRUE(absl::EndsWith(line, ", job ready")) << line;
    }
  }
  EXPECT_THAT(out.leftovers, IsEmpty());
}

INSTANTIATE_TEST_SUITE_P(Modes, ShimClientHydraTest,
                         ::testing::Values(PmiMode::kFd, PmiMode::kPort),
                         [](const auto& info) { return ModeName(info.param); });

// Outside any job: no directory, no PMI variable, so every rank of a real job
// started this way would be rank 0 of 1. check must say so and fail.
TEST(ShimClientCheckTest, NoRendezvousFailsWithTheNSingletonsMessage) {
  ASSERT_OK_AND_ASSIGN(std::string shim, testutil::Runfile("shim-client/pmi-shim-client"));
  absl::StatusOr<testutil::RunResult> run =
      testutil::RunSubprocess({"/usr/bin/env", "-i", shim, "check"}, {}, absl::Seconds(20));
  ASSERT_OK(run);
  EXPECT_EQ(run->exit_code, 1) << run->Describe();
  EXPECT_EQ(run->stdout_text, "");
  EXPECT_THAT(run->stderr_text, StartsWith("pmi-shim-client: no PMI rendezvous"));
  EXPECT_THAT(run->stderr_text, HasSubstr("each rank would start as rank 0 of 1 (the "
                                          "N-singletons symptom)"));
  EXPECT_THAT(run->stderr_text, HasSubstr("PMI_SHIM_DIR"));
  EXPECT_EQ(std::count(run->stderr_text.begin(), run->stderr_text.end(), '\n'), 1)
      << "one line: " << run->stderr_text;
}

}  // namespace
}  // namespace pmi_shim::e2e
