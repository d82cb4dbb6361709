#include "hook/explain.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace pmi_shim::hook {
namespace {

using ::testing::HasSubstr;

Explanation Sample() {
  Plan plan;
  plan.container_id = "c1";
  plan.private_netns = true;
  plan.netns_path = "/proc/7/ns/net";
  plan.mounts.push_back({"/tmp/r", "/run/pmi-shim", MountStep::Kind::kDirectory, true, "rank dir"});
  plan.relays.push_back({"127.0.0.1", 5000, "pmix"});
  plan.notes.push_back("a note");
  plan.env.push_back("PMIX_GDS_MODULE=hash");
  return {"c1", "/b/c1", {true, "annotation org.pmi-shim.enable=true"},
          plan, "",      {"+ mounts: /tmp/r -> /run/pmi-shim (bind,nosuid,nodev,ro)"}};
}

TEST(FormatExplanationText, Golden) {
  EXPECT_EQ(
      FormatExplanationText(Sample()),
      "container: c1 (bundle /b/c1)\n"
      "decision: asked - annotation org.pmi-shim.enable=true\n"
      "plan:\n"
      "  mount  /tmp/r -> /run/pmi-shim (directory, read-only, nosuid, nodev)  # rank dir\n"
      "  relay  127.0.0.1:5000 inside /proc/7/ns/net -> the same address on the host  # pmix\n"
      "  env    PMIX_GDS_MODULE=hash  # runtime mode only\n"
      "  note   a note\n"
      "runtime mode (pmi-shim-hook runtime) would change config.json:\n"
      "  + mounts: /tmp/r -> /run/pmi-shim (bind,nosuid,nodev,ro)\n");
}

TEST(FormatExplanationText, NotAskedAndRefused) {
  Explanation not_asked{"c2", "/b/c2", {false, "no annotation"}, std::nullopt, "", {}};
  EXPECT_EQ(FormatExplanationText(not_asked),
            "container: c2 (bundle /b/c2)\ndecision: not asked - no annotation\n");
  Explanation refused{"c3", "/b", {true, "auto"}, std::nullopt, "PMI_SHIM_DIR=/etc ...", {}};
  EXPECT_THAT(FormatExplanationText(refused), HasSubstr("plan: refused - PMI_SHIM_DIR=/etc"));
}

TEST(FormatExplanationText, StrandedPmiFdIsNotedEvenWhenNotAsked) {
  Explanation stranded{"c3",
                       "/b/c3",
                       {false, "no annotation"},
                       std::nullopt,
                       "",
                       {},
                       "process.env carries PMI_FD=5 but no PMI_SHIM_DIR: ..."};
  EXPECT_EQ(FormatExplanationText(stranded),
            "container: c3 (bundle /b/c3)\ndecision: not asked - no annotation\n"
            "note: process.env carries PMI_FD=5 but no PMI_SHIM_DIR: ...\n");
  EXPECT_EQ(ExplanationToJson(stranded)["stranded_fd_note"],
            "process.env carries PMI_FD=5 but no PMI_SHIM_DIR: ...");
  EXPECT_FALSE(ExplanationToJson(Sample()).contains("stranded_fd_note"));
}

TEST(ExplanationToJson, Fields) {
  const nlohmann::json out = ExplanationToJson(Sample());
  EXPECT_EQ(out["decision"]["asked"], true);
  EXPECT_EQ(out["plan"]["mounts"][0]["target"], "/run/pmi-shim");
  EXPECT_EQ(out["plan"]["mounts"][0]["read_only"], true);
  EXPECT_EQ(out["plan"]["relays"][0]["port"], 5000);
  EXPECT_EQ(out["plan"]["netns_path"], "/proc/7/ns/net");
  EXPECT_EQ(out["runtime_changes"].size(), 1u);
  Explanation not_asked{"c2", "/b/c2", {false, "no"}, std::nullopt, "", {}};
  EXPECT_TRUE(ExplanationToJson(not_asked)["plan"].is_null());
}

}  // namespace
}  // namespace pmi_shim::hook
