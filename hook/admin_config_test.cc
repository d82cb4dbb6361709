#include "hook/admin_config.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <cstdlib>
#include <fstream>

#include "test/testing/status_matchers.h"

namespace pmi_shim::hook {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

TEST(AdminConfig, DefaultsWhenEmpty) {
  absl::StatusOr<AdminConfig> config = ParseAdminConfig("{}", "hook.json");
  ASSERT_OK(config);
  EXPECT_THAT(config->allowed_dirs, ElementsAre("/run/pmi-shim", "/tmp"));
  EXPECT_TRUE(config->gating.annotation && config->gating.env && config->gating.auto_detect);
  EXPECT_EQ(config->log_file, "");
  EXPECT_FALSE(config->tools_dir.has_value());
  EXPECT_EQ(config->state_dir, "/run/pmi-shim-hook");
  EXPECT_FALSE(config->entrypoint_prefix);
}

TEST(AdminConfig, EveryKey) {
  absl::StatusOr<AdminConfig> config = ParseAdminConfig(R"({
    "allowed_dirs": ["/scratch/pmi"], "gating": {"annotation": true, "env": false, "auto": false},
    "log_file": "/var/log/h.log", "tools_dir": "", "state_dir": "/run/x",
    "entrypoint_prefix": true})",
                                                        "hook.json");
  ASSERT_OK(config);
  EXPECT_THAT(config->allowed_dirs, ElementsAre("/scratch/pmi"));
  EXPECT_FALSE(config->gating.env);
  EXPECT_FALSE(config->gating.auto_detect);
  EXPECT_EQ(config->log_file, "/var/log/h.log");
  ASSERT_TRUE(config->tools_dir.has_value());
  EXPECT_EQ(*config->tools_dir, "");
  EXPECT_EQ(ResolveToolsDir(*config), "");
  EXPECT_EQ(config->state_dir, "/run/x");
  EXPECT_TRUE(config->entrypoint_prefix);
}

TEST(AdminConfig, Errors) {
  const std::pair<const char*, const char*> cases[] = {
      {R"({"allowed_dir": []})", "top level: unknown key(s) allowed_dir"},
      {R"({"gating": {"annotations": true}})", "gating: unknown key(s) annotations"},
      {R"({"gating": {"env": 1}})", "gating.env: expected true or false"},
      {R"({"allowed_dirs": "/tmp"})", "allowed_dirs: expected an array"},
      {R"({"allowed_dirs": ["/"]})", "allowed_dirs[0]: '/' must be"},
      {R"({"allowed_dirs": ["/tmp/../etc"]})", "allowed_dirs[0]"},
      {R"({"allowed_dirs": ["tmp"]})", "allowed_dirs[0]"},
      {R"({"state_dir": ""})", "state_dir"},
      {R"({"tools_dir": "opt"})", "tools_dir: 'opt' is not a normalized absolute path"},
      {R"({"entrypoint_prefix": "yes"})", "entrypoint_prefix: expected true or false"},
      {"{", "hook.json: not valid JSON"},
  };
  for (const auto& [text, expected] : cases) {
    absl::StatusOr<AdminConfig> config = ParseAdminConfig(text, "hook.json");
    EXPECT_THAT(config, testutil::StatusIs(::testing::_, HasSubstr(expected))) << text;
  }
}

// Found by //hook/fuzz:config_fuzz: a key with a JSON "\n" made the error two lines.
TEST(AdminConfig, ErrorsQuotingTheInputStayOneLine) {
  absl::StatusOr<AdminConfig> config =
      ParseAdminConfig(R"({"mou\nts": 1, "tab\there\u0001": 2})", "hook.json");
  EXPECT_THAT(config, testutil::StatusIs(::testing::_,
                                         HasSubstr(R"(unknown key(s) mou\nts, tab\there\x01)")));
  EXPECT_EQ(config.status().message().find('\n'), absl::string_view::npos);
}

TEST(AdminConfig, MissingDefaultFileMeansDefaultsMissingNamedFileIsAnError) {
  EXPECT_OK(LoadAdminConfig("/nonexistent/pmi-shim/hook.json", /*required=*/false));
  EXPECT_FALSE(LoadAdminConfig("/nonexistent/pmi-shim/hook.json", /*required=*/true).ok());
}

TEST(AdminConfig, LoadsAFile) {
  const std::string path = std::string(std::getenv("TEST_TMPDIR")) + "/hook.json";
  std::ofstream(path) << R"({"allowed_dirs": ["/srv/x"]})";
  absl::StatusOr<AdminConfig> config = LoadAdminConfig(path, /*required=*/true);
  ASSERT_OK(config);
  EXPECT_THAT(config->allowed_dirs, ElementsAre("/srv/x"));
}

TEST(ToolsDir, NeedsTheClientAndRefusesSystemPrefixes) {
  const std::string prefix = std::string(std::getenv("TEST_TMPDIR")) + "/prefix";
  EXPECT_EQ(ToolsDirFromExecutable(prefix + "/bin/pmi-shim-hook"), "");  // no client yet
  mkdir(prefix.c_str(), 0755);
  mkdir((prefix + "/bin").c_str(), 0755);
  const std::string client = prefix + "/bin/pmi-shim-client";
  std::ofstream(client) << "#!/bin/sh\n";
  chmod(client.c_str(), 0755);
  EXPECT_EQ(ToolsDirFromExecutable(prefix + "/bin/pmi-shim-hook"), prefix);
  EXPECT_EQ(ToolsDirFromExecutable("/usr/bin/pmi-shim-hook"), "");
  EXPECT_EQ(ToolsDirFromExecutable("/usr/local/bin/pmi-shim-hook"), "");
  EXPECT_EQ(ToolsDirFromExecutable("relative/bin/x"), "");
}

}  // namespace
}  // namespace pmi_shim::hook
