#include "shim-client/command_line.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "test/testing/status_matchers.h"

namespace pmi_shim::shim_client {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

TEST(CommandLineTest, ExecTakesEverythingAfterDashDash) {
  absl::StatusOr<CommandLine> line =
      ParseCommandLine({"exec", "--dir", "/d", "--strict", "--", "app", "--dir", "-x"});
  ASSERT_OK(line);
  EXPECT_EQ(line->verb, Verb::kExec);
  EXPECT_EQ(line->dir, "/d");
  EXPECT_TRUE(line->strict);
  EXPECT_THAT(line->command, ElementsAre("app", "--dir", "-x"));
}

TEST(CommandLineTest, ExecCommandWithoutDashDash) {
  absl::StatusOr<CommandLine> line = ParseCommandLine({"exec", "--dir=/d", "app", "-v"});
  ASSERT_OK(line);
  EXPECT_EQ(line->dir, "/d");
  EXPECT_THAT(line->command, ElementsAre("app", "-v"));
}

TEST(CommandLineTest, CheckOptions) {
  absl::StatusOr<CommandLine> line =
      ParseCommandLine({"check", "--json", "--timeout=2.5", "-v", "-v"});
  ASSERT_OK(line);
  EXPECT_EQ(line->verb, Verb::kCheck);
  EXPECT_TRUE(line->json);
  EXPECT_EQ(line->timeout, absl::Milliseconds(2500));
  EXPECT_EQ(line->verbosity, 2);
}

TEST(CommandLineTest, InspectRoot) {
  absl::StatusOr<CommandLine> line = ParseCommandLine({"inspect", "/img", "--json"});
  ASSERT_OK(line);
  EXPECT_EQ(line->root, "/img");
  EXPECT_TRUE(line->json);
  EXPECT_EQ(ParseCommandLine({"inspect"})->root, "/");
}

TEST(CommandLineTest, HelpEverywhere) {
  EXPECT_TRUE(ParseCommandLine({"--help"})->help);
  EXPECT_TRUE(ParseCommandLine({"exec", "--help"})->help);
  EXPECT_TRUE(ParseCommandLine({"check", "-h"})->help);
  EXPECT_THAT(Usage(Verb::kExec), HasSubstr("PMI_FD"));
  EXPECT_THAT(Usage(Verb::kCheck), HasSubstr("N-singletons"));
}

struct BadCase {
  std::vector<std::string> args;
  std::string says;
};

class BadCommandLineTest : public ::testing::TestWithParam<BadCase> {};

TEST_P(BadCommandLineTest, IsOneLineWithTheProblem) {
  absl::StatusOr<CommandLine> line = ParseCommandLine(GetParam().args);
  EXPECT_THAT(line, testutil::StatusIs(::testing::_, HasSubstr(GetParam().says)));
  EXPECT_THAT(std::string(line.status().message()), HasSubstr("--help"));
}

INSTANTIATE_TEST_SUITE_P(
    Cases, BadCommandLineTest,
    ::testing::Values(BadCase{{}, "no verb"}, BadCase{{"run"}, "unknown verb 'run'"},
                      BadCase{{"exec"}, "no command"}, BadCase{{"exec", "--"}, "no command"},
                      BadCase{{"exec", "--dir"}, "--dir needs a value"},
                      BadCase{{"check", "--dir", "rel"}, "absolute path"},
                      BadCase{{"check", "--timeout", "0"}, "--timeout"},
                      BadCase{{"check", "--bogus"}, "unknown option '--bogus'"},
                      BadCase{{"check", "extra"}, "unexpected argument"},
                      BadCase{{"exec", "--json", "--", "x"}, "unknown option '--json'"},
                      BadCase{{"inspect", "/a", "/b"}, "unexpected argument '/b'"}));

}  // namespace
}  // namespace pmi_shim::shim_client
