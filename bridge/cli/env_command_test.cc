// `pmi-bridge env` as a user runs it: the real binary, its stdout and exit
// status.
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "test/testing/runfiles.h"
#include "test/testing/status_matchers.h"
#include "test/testing/subprocess.h"

namespace pmi_shim::cli {
namespace {

testutil::RunResult Env(std::vector<std::string> args,
                        std::vector<std::pair<std::string, std::string>> env = {},
                        std::vector<std::string> unset = {"PMI_SHIM_DIR"}) {
  absl::StatusOr<std::string> bridge = testutil::Runfile("bridge/cli/pmi-bridge");
  EXPECT_OK(bridge);
  testutil::RunOptions options;
  options.argv = {*bridge, "env"};
  options.argv.insert(options.argv.end(), args.begin(), args.end());
  options.env = std::move(env);
  options.unset_env = std::move(unset);
  options.timeout = absl::Seconds(20);
  absl::StatusOr<testutil::RunResult> result = testutil::RunSubprocess(options);
  EXPECT_OK(result);
  return result.ok() ? *result : testutil::RunResult{};
}

TEST(EnvCommandTest, ApptainerJsonFromPmiShimDir) {
  testutil::RunResult r = Env({"--for", "apptainer", "--tools", "/opt/site/pmi-shim", "--json"},
                              {{"PMI_SHIM_DIR", "/tmp/pmi-shim.9/rank.1"}}, {});
  ASSERT_EQ(r.exit_code, 0) << r.Describe();
  nlohmann::json out = nlohmann::json::parse(r.stdout_text);
  EXPECT_EQ(out["engine"], "apptainer");
  EXPECT_EQ(out["dir"], "/tmp/pmi-shim.9/rank.1");
  EXPECT_EQ(out["flags"], nlohmann::json({"--bind", "/tmp/pmi-shim.9/rank.1", "--bind",
                                          "/opt/site/pmi-shim:/opt/pmi-shim:ro", "--env",
                                          "PMI_SHIM_DIR=/tmp/pmi-shim.9/rank.1"}));
  EXPECT_EQ(out["prefix"], nlohmann::json({"/opt/pmi-shim/bin/pmi-shim-client", "exec", "--"}));
  EXPECT_EQ(out["environment"]["APPTAINERENV_PMI_SHIM_DIR"], "/tmp/pmi-shim.9/rank.1");
}

TEST(EnvCommandTest, FlagsAndPrefixAreShellWordsForSubstitution) {
  testutil::RunResult flags =
      Env({"--for", "ch-run", "--dir", "/tmp/r/rank.0", "--tools", "/usr/local", "--flags"});
  ASSERT_EQ(flags.exit_code, 0) << flags.Describe();
  EXPECT_EQ(flags.stdout_text, "-b /tmp/r/rank.0:/tmp/r/rank.0 -b /usr/local:/opt/pmi-shim\n");
  testutil::RunResult prefix = Env({"--for", "charliecloud", "--dir", "/tmp/r", "--prefix"});
  ASSERT_EQ(prefix.exit_code, 0) << prefix.Describe();
  EXPECT_EQ(prefix.stdout_text, "/opt/pmi-shim/bin/pmi-shim-client exec --\n");
}

TEST(EnvCommandTest, TextShowsAnExampleAndTheEnvAlternative) {
  testutil::RunResult r = Env({"--for", "singularity", "--dir", "/tmp/r", "--tools", "/usr/local"});
  ASSERT_EQ(r.exit_code, 0) << r.Describe();
  EXPECT_TRUE(absl::StrContains(r.stdout_text, "or env:  SINGULARITYENV_PMI_SHIM_DIR=/tmp/r"))
      << r.stdout_text;
  EXPECT_TRUE(absl::StrContains(
      r.stdout_text,
      "example: singularity exec --bind /tmp/r --bind /usr/local:/opt/pmi-shim:ro --env "
      "PMI_SHIM_DIR=/tmp/r IMAGE /opt/pmi-shim/bin/pmi-shim-client exec -- APP"))
      << r.stdout_text;
}

TEST(EnvCommandTest, PodmanOnlyNeedsTheVariable) {
  testutil::RunResult r = Env({"--for", "podman", "--dir", "/tmp/r", "--flags"});
  ASSERT_EQ(r.exit_code, 0) << r.Describe();
  EXPECT_EQ(r.stdout_text, "--env PMI_SHIM_DIR=/tmp/r\n");
}

TEST(EnvCommandTest, UsageErrorsAreOneLine) {
  testutil::RunResult no_dir = Env({"--for", "apptainer"});
  EXPECT_EQ(no_dir.exit_code, 2);
  EXPECT_TRUE(absl::StrContains(no_dir.stderr_text, "PMI_SHIM_DIR is not set"))
      << no_dir.Describe();
  testutil::RunResult bad_engine = Env({"--for", "lxc", "--dir", "/tmp/r"});
  EXPECT_EQ(bad_engine.exit_code, 2);
  EXPECT_TRUE(absl::StrContains(bad_engine.stderr_text, "pmi-bridge: env: --for lxc"))
      << bad_engine.Describe();
  testutil::RunResult no_engine = Env({"--dir", "/tmp/r"});
  EXPECT_EQ(no_engine.exit_code, 2);
  testutil::RunResult relative = Env({"--for", "apptainer", "--dir", "rank.0", "--tools", "/x"});
  EXPECT_EQ(relative.exit_code, 1);
  EXPECT_TRUE(absl::StrContains(relative.stderr_text, "absolute path")) << relative.Describe();
  for (const testutil::RunResult* r : {&no_dir, &bad_engine, &relative}) {
    EXPECT_EQ(std::count(r->stderr_text.begin(), r->stderr_text.end(), '\n'), 1) << r->stderr_text;
  }
}

TEST(EnvCommandTest, HelpListsTheEngines) {
  testutil::RunResult r = Env({"--help"});
  ASSERT_EQ(r.exit_code, 0);
  EXPECT_TRUE(absl::StrContains(
      r.stdout_text, "ENGINE: apptainer, singularity, charliecloud (ch-run), podman, docker"))
      << r.stdout_text;
}

}  // namespace
}  // namespace pmi_shim::cli
