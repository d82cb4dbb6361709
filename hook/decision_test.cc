#include "hook/decision.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace pmi_shim::hook {
namespace {

using ::testing::HasSubstr;

ContainerConfig With(std::vector<std::string> env,
                     std::map<std::string, std::string> annotations = {}) {
  ContainerConfig config;
  config.env = std::move(env);
  config.annotations = std::move(annotations);
  return config;
}

TEST(Decide, Table) {
  const Gating all;
  Gating no_auto;
  no_auto.auto_detect = false;
  Gating no_annotation;
  no_annotation.annotation = false;
  Gating no_env;
  no_env.env = false;
  struct Case {
    ContainerConfig config;
    Gating gating;
    bool asked;
    const char* why;
  };
  const Case cases[] = {
      {With({"PATH=/bin"}), all, false, "no org.pmi-shim.enable=true annotation"},
      {With({}, {{"org.pmi-shim.enable", "true"}}), all, true,
       "annotation org.pmi-shim.enable=true"},
      {With({}, {{"org.pmi-shim.enable", "TRUE"}}), all, true, "annotation"},
      {With({}, {{"org.pmi-shim.enable", "1"}}), no_annotation, false, "no org.pmi-shim"},
      {With({"PMI_SHIM_DIR=/tmp/x"}, {{"org.pmi-shim.enable", "false"}}), all, false,
       "explicit opt-out"},
      {With({}, {{"org.pmi-shim.enable", "maybe"}}), all, false, "is not true/false"},
      {With({"PMI_SHIM=1"}), all, true, "process.env PMI_SHIM=1"},
      {With({"PMI_SHIM=1"}), no_env, false, "no org"},
      {With({"PMI_SHIM=0", "PMI_PORT=127.0.0.1:1"}), all, false, "explicit opt-out"},
      {With({"PMI_SHIM=what", "PMI_PORT=127.0.0.1:1"}), all, true, "PMI_PORT (auto)"},
      {With({"PMI_SHIM_DIR=/tmp/x"}), all, true, "PMI_SHIM_DIR (auto)"},
      {With({"PMIX_SERVER_URI41=ns.0;tcp4://127.0.0.1:3"}), all, true, "PMIX_SERVER_URI41 (auto)"},
      {With({"PMIX_SERVER_URI=ns:0:/tmp/s"}), all, true, "PMIX_SERVER_URI (auto)"},
      {With({"PMIX_SERVER_URI2=x"}), no_auto, false, "no org"},
      {With({"PMIX_SERVER_URIX=x", "PMIX_NAMESPACE=n"}), all, false, "no org"},
  };
  for (const Case& c : cases) {
    const Decision decision = Decide(c.config, c.gating);
    EXPECT_EQ(decision.asked, c.asked) << decision.why;
    EXPECT_THAT(decision.why, HasSubstr(c.why));
  }
}

TEST(IsPmixServerUriName, VersionedNames) {
  for (const char* name :
       {"PMIX_SERVER_URI", "PMIX_SERVER_URI2", "PMIX_SERVER_URI21", "PMIX_SERVER_URI3",
        "PMIX_SERVER_URI4", "PMIX_SERVER_URI41", "PMIX_SERVER_URI20"}) {
    EXPECT_TRUE(IsPmixServerUriName(name)) << name;
  }
  for (const char* name :
       {"PMIX_SERVER_URIS", "PMIX_SERVER_URI_2", "PMIX_SERVER", "XPMIX_SERVER_URI"}) {
    EXPECT_FALSE(IsPmixServerUriName(name)) << name;
  }
}

TEST(StrandedPmiFdNote, OnlyAnFdWithoutARankDirectory) {
  EXPECT_THAT(StrandedPmiFdNote(With({"PMI_FD=5", "PMI_RANK=1", "PMI_SIZE=4"})),
              HasSubstr("PMI_FD=5 but no PMI_SHIM_DIR"));
  EXPECT_EQ(StrandedPmiFdNote(With({"PMI_FD=5", "PMI_SHIM_DIR=/run/pmi-shim/j.1.2"})), "");
  EXPECT_EQ(StrandedPmiFdNote(With({"PMI_SHIM_DIR=/run/pmi-shim/j.1.2"})), "");
  EXPECT_EQ(StrandedPmiFdNote(With({"PATH=/bin", "PMI_FDX=3"})), "");
  // Noted whatever the gating decides: the log is where an admin looks.
  EXPECT_THAT(StrandedPmiFdNote(With({"PMI_FD=3"}, {{"org.pmi-shim.enable", "false"}})),
              HasSubstr("pmi-bridge exec"));
}

}  // namespace
}  // namespace pmi_shim::hook
