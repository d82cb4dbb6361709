// PlanRank: what one rank serves, for each --downstream choice, host family
// and detected client; the PMIx v1.2 endpoint is a plan of its own.
#include "bridge/exec/bridged_rank.h"

#include "gtest/gtest.h"

namespace pmi_shim::exec {
namespace {

using upstream::HostFamily;

TEST(PlanRankTest, UnknownProgramIsOfferedBothWithTheHostsFamilyPreferred) {
  const RankPlan plan = PlanRank(DownstreamChoice::kAuto, HostFamily::kPmiWire, /*publish=*/true,
                                 /*command_is_engine=*/false, std::nullopt);
  EXPECT_EQ(plan.direct, ClientFamily::kPmi);
  EXPECT_TRUE(plan.publish_pmi);
  EXPECT_TRUE(plan.publish_pmix);
  EXPECT_EQ(plan.preferred, ClientFamily::kPmi);
}

TEST(PlanRankTest, NamedFamilyIsTheOnlyOneServed) {
  const RankPlan plan =
      PlanRank(DownstreamChoice::kPmix, HostFamily::kPmiWire, true, true, std::nullopt);
  EXPECT_EQ(plan.direct, std::nullopt);  // an engine: the directory alone
  EXPECT_FALSE(plan.publish_pmi);
  EXPECT_TRUE(plan.publish_pmix);
  EXPECT_EQ(plan.preferred, ClientFamily::kPmix);
}

TEST(PlanRankTest, PmixV1ForcedOrDetectedGetsOnlyTheV1Endpoint) {
  for (HostFamily host : {HostFamily::kPmiWire, HostFamily::kPmix}) {
    const RankPlan forced = PlanRank(DownstreamChoice::kPmixV1, host, true, false, std::nullopt);
    EXPECT_EQ(forced.direct, ClientFamily::kPmixV1);
    EXPECT_EQ(forced.preferred, ClientFamily::kPmixV1);
    EXPECT_FALSE(forced.publish_pmi);
    EXPECT_FALSE(forced.publish_pmix);  // never the node's PMIx server
    const RankPlan detected =
        PlanRank(DownstreamChoice::kAuto, host, true, true, ClientFamily::kPmixV1);
    EXPECT_EQ(detected.direct, std::nullopt);
    EXPECT_EQ(detected.preferred, ClientFamily::kPmixV1);
    EXPECT_FALSE(detected.publish_pmi);
    EXPECT_FALSE(detected.publish_pmix);
  }
  // A named family wins over what the program links.
  const RankPlan named =
      PlanRank(DownstreamChoice::kPmi1, HostFamily::kPmix, true, false, ClientFamily::kPmixV1);
  EXPECT_EQ(named.preferred, ClientFamily::kPmi);
  EXPECT_TRUE(named.publish_pmi);
  EXPECT_FALSE(named.publish_pmix);
}

}  // namespace
}  // namespace pmi_shim::exec
