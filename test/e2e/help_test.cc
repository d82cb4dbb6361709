// Every verb of the three programs answers --help with its usage on stdout
// and exit status 0, without needing a launcher, a container or root
// (design.md §4: "every verb has --help").
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "gtest/gtest.h"
#include "test/testing/runfiles.h"
#include "test/testing/status_matchers.h"
#include "test/testing/subprocess.h"

namespace pmi_shim::e2e {
namespace {

struct VerbCase {
  std::string program;  // runfile path
  std::vector<std::string> verb;
};

class HelpTest : public ::testing::TestWithParam<VerbCase> {};

TEST_P(HelpTest, PrintsUsageAndSucceeds) {
  absl::StatusOr<std::string> program = testutil::Runfile(GetParam().program);
  ASSERT_OK(program);
  testutil::RunOptions options;
  options.argv = {*program};
  options.argv.insert(options.argv.end(), GetParam().verb.begin(), GetParam().verb.end());
  options.argv.push_back("--help");
  // Nothing of a launcher may leak in and change what the verb does.
  options.unset_env = {"PMI_FD",   "PMI_PORT",       "PMI_RANK",
                       "PMI_SIZE", "PMIX_NAMESPACE", "PMI_SHIM_DIR"};
  options.timeout = absl::Seconds(20);
  absl::StatusOr<testutil::RunResult> run = testutil::RunSubprocess(options);
  ASSERT_OK(run);
  EXPECT_EQ(run->exit_code, 0) << run->Describe();
  EXPECT_TRUE(absl::StrContains(absl::AsciiStrToLower(run->stdout_text), "usage"))
      << run->Describe();
}

std::vector<VerbCase> AllVerbs() {
  std::vector<VerbCase> cases;
  for (const char* verb : {"launch", "exec", "diagnose", "trace", "probe", "matrix", "env"}) {
    cases.push_back({"bridge/cli/pmi-bridge", {verb}});
  }
  cases.push_back({"bridge/cli/pmi-bridge", {}});
  for (const char* verb : {"explain", "runtime", "cdi", "createRuntime"}) {
    cases.push_back({"hook/pmi-shim-hook", {verb}});
  }
  cases.push_back({"hook/pmi-shim-hook", {}});
  for (const char* verb : {"exec", "check", "inspect"}) {
    cases.push_back({"shim-client/pmi-shim-client", {verb}});
  }
  cases.push_back({"shim-client/pmi-shim-client", {}});
  return cases;
}

INSTANTIATE_TEST_SUITE_P(Verbs, HelpTest, ::testing::ValuesIn(AllVerbs()),
                         [](const ::testing::TestParamInfo<VerbCase>& info) {
                           std::string name =
                               info.param.program.substr(info.param.program.rfind('/') + 1);
                           for (const std::string& word : info.param.verb) name += "_" + word;
                           for (char& c : name) {
                             if (c == '-') c = '_';
                           }
                           return name;
                         });

}  // namespace
}  // namespace pmi_shim::e2e
