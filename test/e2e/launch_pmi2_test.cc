// End-to-end: Slurm's libpmi2 (a real PMI-2 wire client) under
// `pmi-bridge launch`, in both rendezvous modes.
//
// pmi2_kvs puts values up to the advertised 1023-byte limit, fences, reads
// every other rank's values back byte for byte and asks for
// PMI_process_mapping; it prints "rank R of N: pmi2 ok mapping=..." only if
// all of that worked. In port mode libpmi2 skips the PMI-1 initack and sends
// its id in fullinit, the dialect hydra 4.0.2 rejects; the launcher must not.
#include <algorithm>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "test/e2e/launch_util.h"
#include "test/testing/netns_test_main.h"

namespace pmi_shim::e2e {
namespace {

using ::testing::IsEmpty;

class LaunchPmi2Test : public ::testing::TestWithParam<PmiMode> {
 protected:
  void SetUp() override { PMI_SHIM_REQUIRE_PRIVATE_NETNS(); }
};

TEST_P(LaunchPmi2Test, KvsRoundTripAndProcessMapping) {
  constexpr int kRanks = 4;
  LaunchSpec spec;
  spec.ranks = kRanks;
  spec.mode = GetParam();
  spec.command = {ProgramPath("pmi2_kvs")};
  absl::StatusOr<LaunchOutcome> out = RunLaunch(spec);
  ASSERT_TRUE(out.ok()) << out.status();
  ASSERT_EQ(out->run.exit_code, 0) << out->run.Describe();

  std::vector<std::string> results;
  for (const std::string& line : Lines(out->run.stdout_text)) {
    if (absl::StartsWith(line, "rank ")) results.push_back(line);
  }
  ASSERT_EQ(results.size(), static_cast<size_t>(kRanks)) << out->run.Describe();
  std::string first_mapping;
  for (int rank = 0; rank < kRanks; ++rank) {
    const std::string prefix = absl::StrCat("rank ", rank, " of ", kRanks, ": pmi2 ok mapping=");
    auto it = std::find_if(results.begin(), results.end(),
                           [&](const std::string& line) { return absl::StartsWith(line, prefix); });
    ASSERT_NE(it, results.end()) << "no \"" << prefix << "...\" line\n" << out->run.Describe();
    std::string mapping = it->substr(prefix.size());
    SCOPED_TRACE(*it);
    // pmi2_kvs already insists on "(vector,"; a complete value also closes.
    EXPECT_TRUE(absl::StartsWith(mapping, "(vector,("));
    EXPECT_TRUE(absl::EndsWith(mapping, "))"));
    // One job, one layout: every rank must be told the same.
    if (rank == 0) first_mapping = mapping;
    EXPECT_EQ(mapping, first_mapping);
  }
  EXPECT_THAT(out->leftovers, IsEmpty());
}

INSTANTIATE_TEST_SUITE_P(Modes, LaunchPmi2Test, ::testing::Values(PmiMode::kFd, PmiMode::kPort),
                         [](const ::testing::TestParamInfo<PmiMode>& info) {
                           return ModeName(info.param);
                         });

}  // namespace
}  // namespace pmi_shim::e2e
