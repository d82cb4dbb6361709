// The pmi-shim-hook binary's command line: verbs, --help, one-line errors,
// runtime pass-through to the real runc, and the fast "not asked" exit.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <cstdlib>
#include <fstream>
#include <nlohmann/json.hpp>

#include "absl/time/time.h"
#include "test/testing/runfiles.h"
#include "test/testing/status_matchers.h"
#include "test/testing/subprocess.h"

namespace pmi_shim::hook {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;
using testutil::RunResult;

class CliTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<std::string> bin = testutil::Runfile("hook/pmi-shim-hook");
    ASSERT_OK(bin);
    hook_ = *bin;
    char* resolved = realpath(hook_.c_str(), nullptr);  // what /proc/self/exe says
    ASSERT_NE(resolved, nullptr);
    hook_real_ = resolved;
    free(resolved);
    root_ = std::string(std::getenv("TEST_TMPDIR")) + "/" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name();
    mkdir(root_.c_str(), 0755);
    mkdir((root_ + "/bundle").c_str(), 0755);
    mkdir((root_ + "/rank").c_str(), 0755);
    admin_ = root_ + "/hook.json";
    std::ofstream(admin_) << R"({"allowed_dirs": [")" << root_ << R"("], "tools_dir": ""})";
  }

  RunResult Run(std::vector<std::string> args) {
    args.insert(args.begin(), hook_);
    testutil::RunOptions options;
    options.argv = std::move(args);
    options.timeout = absl::Seconds(20);
    absl::StatusOr<RunResult> result = testutil::RunSubprocess(options);
    EXPECT_OK(result);
    return result.ok() ? *result : RunResult();
  }

  void WriteConfig(const std::string& env_json) {
    std::ofstream(root_ + "/bundle/config.json")
        << R"({"root": {"path": "rootfs"}, "process": {"args": ["/app"], "env": )" << env_json
        << R"(}, "linux": {"namespaces": [{"type": "network"}]}})";
  }

  std::string hook_, hook_real_, root_, admin_;
};

TEST_F(CliTest, EveryVerbHasHelp) {
  for (std::vector<std::string> args :
       std::vector<std::vector<std::string>>{{"--help"},
                                             {"createRuntime", "--help"},
                                             {"explain", "--help"},
                                             {"runtime", "--help"},
                                             {"cdi", "--help"}}) {
    RunResult result = Run(args);
    EXPECT_EQ(result.exit_code, 0) << args[0];
    EXPECT_THAT(result.stdout_text, StartsWith("Usage: pmi-shim-hook")) << args[0];
  }
}

TEST_F(CliTest, UnknownVerbIsOneLine) {
  RunResult result = Run({"frobnicate"});
  EXPECT_EQ(result.exit_code, 2);
  EXPECT_THAT(result.stderr_text, StartsWith("pmi-shim-hook: unknown stage or verb 'frobnicate'"));
  EXPECT_EQ(std::count(result.stderr_text.begin(), result.stderr_text.end(), '\n'), 1);
}

TEST_F(CliTest, ExplainTextAndJson) {
  WriteConfig(R"(["PMI_SHIM_DIR=)" + root_ + R"(/rank", "PMI_PORT=127.0.0.1:6000"])");
  RunResult text = Run({"explain", "--bundle", root_ + "/bundle", "--config", admin_});
  EXPECT_EQ(text.exit_code, 0) << text.stderr_text;
  EXPECT_THAT(text.stdout_text, HasSubstr("decision: asked - process.env has PMI_SHIM_DIR (auto)"));
  EXPECT_THAT(text.stdout_text, HasSubstr("  mount  " + root_ + "/rank -> /run/pmi-shim"));
  EXPECT_THAT(text.stdout_text, HasSubstr("  relay  127.0.0.1:6000"));
  EXPECT_THAT(text.stdout_text, HasSubstr("+ hooks.createRuntime: " + hook_real_));
  RunResult json = Run({"explain", "--bundle", root_ + "/bundle", "--config", admin_, "--json"});
  ASSERT_EQ(json.exit_code, 0) << json.stderr_text;
  const nlohmann::json parsed = nlohmann::json::parse(json.stdout_text);
  EXPECT_EQ(parsed["plan"]["relays"][0]["port"], 6000);
  // explain changed nothing
  std::ifstream config(root_ + "/bundle/config.json");
  EXPECT_EQ(nlohmann::json::parse(config)["process"]["args"].size(), 1u);
}

TEST_F(CliTest, ExplainReportsARefusedPlan) {
  WriteConfig(R"(["PMI_SHIM_DIR=/etc"])");
  RunResult result = Run({"explain", "--bundle", root_ + "/bundle", "--config", admin_});
  EXPECT_EQ(result.exit_code, 0);
  EXPECT_THAT(result.stdout_text, HasSubstr("plan: refused - PMI_SHIM_DIR=/etc in process.env"));
}

TEST_F(CliTest, ExplainErrorsAreOneLine) {
  RunResult result = Run({"explain", "--bundle", root_ + "/missing", "--config", admin_});
  EXPECT_EQ(result.exit_code, 1);
  EXPECT_THAT(result.stderr_text, StartsWith("pmi-shim-hook: explain: cannot open "));
  EXPECT_EQ(Run({"explain"}).exit_code, 2);
  EXPECT_EQ(Run({"explain", "--bundle"}).exit_code, 2);
}

TEST_F(CliTest, CdiWritesAFile) {
  const std::string out = root_ + "/pmi-shim.json";
  RunResult result = Run({"cdi", "--prefix", "/opt/pmi-shim-9", "--output", out});
  ASSERT_EQ(result.exit_code, 0) << result.stderr_text;
  std::ifstream file(out);
  const nlohmann::json spec = nlohmann::json::parse(file);
  EXPECT_EQ(spec["kind"], "pmi-shim.org/shim");
  EXPECT_EQ(Run({"cdi", "--prefix", "relative"}).exit_code, 1);
}

// The real runc answers through the wrapper, arguments unchanged.
TEST_F(CliTest, RuntimePassesThroughToRunc) {
  RunResult direct = Run({"runtime", "--runtime", "/usr/bin/runc", "--", "--version"});
  EXPECT_EQ(direct.exit_code, 0) << direct.stderr_text;
  EXPECT_THAT(direct.stdout_text, StartsWith("runc version"));
  RunResult state = Run({"runtime", "--", "--root", root_ + "/runc-root", "state", "nosuch"});
  EXPECT_NE(state.exit_code, 0);
  EXPECT_THAT(state.stderr_text, HasSubstr("container does not exist"));
  EXPECT_THAT(state.stderr_text, ::testing::Not(HasSubstr("pmi-shim-hook")));
  RunResult bad = Run({"runtime", "--runtime", "/nonexistent/runc", "--", "--version"});
  EXPECT_EQ(bad.exit_code, 127);
  EXPECT_THAT(bad.stderr_text,
              StartsWith("pmi-shim-hook: runtime: cannot execute /nonexistent/runc"));
}

TEST_F(CliTest, RuntimeCreateEditsTheConfigThenRunsTheRuntime) {
  WriteConfig(R"(["PMI_SHIM_DIR=)" + root_ + R"(/rank"])");
  const std::string log = root_ + "/runc-log.json";
  // runc itself then fails (no rootfs): the edit must be in place before it ran.
  RunResult result =
      Run({"runtime", "--config", admin_, "--", "--root", root_ + "/runc-root", "--log", log,
           "--log-format", "json", "create", "--bundle", root_ + "/bundle", "cli-test-c1"});
  EXPECT_NE(result.exit_code, 0);
  std::ifstream file(root_ + "/bundle/config.json");
  const nlohmann::json config = nlohmann::json::parse(file);
  ASSERT_EQ(config["mounts"].size(), 1u) << config.dump();
  EXPECT_EQ(config["mounts"][0]["destination"], "/run/pmi-shim");
  EXPECT_EQ(config["mounts"][0]["source"], root_ + "/rank");
}

TEST_F(CliTest, RuntimeCreateRefusedDoesNotRunTheRuntime) {
  WriteConfig(R"(["PMI_SHIM_DIR=/etc/x"])");
  const std::string log = root_ + "/runc-log.json";
  RunResult result =
      Run({"runtime", "--config", admin_, "--runtime", "/nonexistent/runc", "--", "--log", log,
           "--log-format", "json", "create", "--bundle", root_ + "/bundle", "c2"});
  EXPECT_EQ(result.exit_code, 1);  // not 127: the runtime was never tried
  EXPECT_THAT(result.stderr_text, StartsWith("pmi-shim-hook: container c2: PMI_SHIM_DIR=/etc/x"));
  std::ifstream file(log);
  const nlohmann::json line = nlohmann::json::parse(file);
  EXPECT_EQ(line["level"], "error");
  EXPECT_THAT(line["msg"].get<std::string>(), HasSubstr("PMI_SHIM_DIR=/etc/x"));
}

TEST_F(CliTest, HookStageNotAskedExitsZeroFast) {
  WriteConfig(R"(["PATH=/bin"])");
  const std::string state = R"({"id": "c3", "pid": 1, "bundle": ")" + root_ + R"(/bundle"})";
  std::ofstream(root_ + "/state.json") << state;
  testutil::RunOptions options;
  options.argv = {"/bin/sh", "-c",   "\"$0\" --config \"$1\" createRuntime < \"$2\"",
                  hook_,     admin_, root_ + "/state.json"};
  options.timeout = absl::Seconds(20);
  absl::StatusOr<RunResult> result = testutil::RunSubprocess(options);
  ASSERT_OK(result);
  EXPECT_EQ(result->exit_code, 0) << result->stderr_text;
  EXPECT_EQ(result->stderr_text, "");
}

// The hook's own environment never deciding, and never reaching what it
// starts: own_environment_test.cc.

}  // namespace
}  // namespace pmi_shim::hook
