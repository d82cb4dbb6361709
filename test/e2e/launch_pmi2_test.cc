// End-to-end: Slurm's libpmi2 (a real PMI-2 wire client) under
// `pmi-bridge launch`, in both rendezvous modes.
//
// pmi2_kvs puts values up to the advertised 1023-byte limit, fences, reads
// every other rank's values back byte for byte and asks for
// PMI_process_mapping; it prints "rank R of N: pmi2 ok mapping=..." only if
// all of that worked. In port mode libpmi2 skips the PMI-1 initack and sends
// its id in fullinit, the dialect hydra 4.0.2 rejects; the launcher must not.
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "test/testing/launcher.h"
#include "test/testing/netns_test_main.h"
#include "test/testing/rank_lines.h"
#include "test/testing/runfiles.h"
#include "test/testing/status_matchers.h"

namespace pmi_shim::e2e {
namespace {

using ::testing::AllOf;
using ::testing::EndsWith;
using ::testing::IsEmpty;
using ::testing::StartsWith;
using testutil::HasOneLinePerRank;
using testutil::JobResult;
using testutil::JobSpec;
using testutil::Launcher;
using testutil::ModeName;
using testutil::ParseRankLine;
using testutil::PmiMode;
using testutil::ProgramPath;
using testutil::RunJob;

class LaunchPmi2Test : public ::testing::TestWithParam<PmiMode> {
 protected:
  void SetUp() override { PMI_SHIM_REQUIRE_PRIVATE_NETNS(); }
};

TEST_P(LaunchPmi2Test, KvsRoundTripAndProcessMapping) {
  constexpr int kRanks = 4;
  JobSpec spec;
  spec.launcher = Launcher::kBridgeLaunch;
  spec.ranks = kRanks;
  spec.mode = GetParam();
  spec.command = {ProgramPath("pmi2_kvs")};
  ASSERT_OK_AND_ASSIGN(JobResult out, RunJob(spec));
  ASSERT_EQ(out.run.exit_code, 0) << out.run.Describe();

  // pmi2_kvs already insists on "(vector,"; a complete value also closes.
  EXPECT_THAT(
      out.run.stdout_text,
      HasOneLinePerRank(kRanks, AllOf(StartsWith("pmi2 ok mapping=(vector,("), EndsWith("))"))))
      << out.run.Describe();
  // One job, one layout: every rank must be told the same.
  std::set<std::string> mappings;
  for (const std::string& line : testutil::LinesStartingWith(out.run.stdout_text, "rank ")) {
    std::optional<testutil::RankLine> parsed = ParseRankLine(line);
    if (parsed.has_value()) mappings.insert(parsed->text);
  }
  EXPECT_EQ(mappings.size(), 1u) << out.run.Describe();
  EXPECT_THAT(out.leftovers, IsEmpty());
}

INSTANTIATE_TEST_SUITE_P(Modes, LaunchPmi2Test, ::testing::Values(PmiMode::kFd, PmiMode::kPort),
                         [](const ::testing::TestParamInfo<PmiMode>& info) {
                           return ModeName(info.param);
                         });

}  // namespace
}  // namespace pmi_shim::e2e
