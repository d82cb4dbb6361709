#include "bridge/engines/option_scanner.h"

#include "gtest/gtest.h"
#include "test/testing/status_matchers.h"

namespace pmi_shim::engines {
namespace {

const std::vector<OptionSpec> kTable = {
    {"bind", 'B', OptionArg::kRequired},
    {"cleanenv", 'e', OptionArg::kNone},
    {"containall", 'C', OptionArg::kNone},
    {"set-env", 0, OptionArg::kEqualsOnly},
};

std::vector<ScannedOption> ScanAll(const std::vector<std::string>& args, size_t* end) {
  std::vector<ScannedOption> out;
  size_t i = 0;
  while (i < args.size() && args[i][0] == '-') {
    absl::Status status = ScanOption(kTable, "prog", args, &i, &out);
    EXPECT_OK(status);
    if (!status.ok()) break;
  }
  *end = i;
  return out;
}

TEST(OptionScannerTest, ValueForms) {
  size_t end = 0;
  std::vector<ScannedOption> got =
      ScanAll({"--bind", "/a", "--bind=/b", "-B", "/c", "-B/d", "-B=/e", "image"}, &end);
  ASSERT_EQ(got.size(), 5u);
  EXPECT_EQ(end, 7u);
  for (const ScannedOption& option : got) EXPECT_EQ(option.name, "bind");
  EXPECT_EQ(got[0].value, "/a");
  EXPECT_EQ(got[1].value, "/b");
  EXPECT_EQ(got[2].value, "/c");
  EXPECT_EQ(got[3].value, "/d");
  EXPECT_EQ(got[4].value, "/e");
}

TEST(OptionScannerTest, ClusterEndsWithAValuedLetter) {
  size_t end = 0;
  std::vector<ScannedOption> got = ScanAll({"-eCB", "/x", "image"}, &end);
  ASSERT_EQ(got.size(), 3u);
  EXPECT_EQ(got[0].name, "cleanenv");
  EXPECT_EQ(got[1].name, "containall");
  EXPECT_EQ(got[2].value, "/x");
  EXPECT_EQ(end, 2u);
}

TEST(OptionScannerTest, EqualsOnlyDoesNotTakeTheNextWord) {
  size_t end = 0;
  std::vector<ScannedOption> got = ScanAll({"--set-env", "image"}, &end);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_FALSE(got[0].has_value);
  EXPECT_EQ(end, 1u);
}

TEST(OptionScannerTest, SwitchValues) {
  auto with = [](bool has_value, const char* value) {
    ScannedOption option;
    option.name = "cleanenv";
    option.has_value = has_value;
    option.value = value;
    return option;
  };
  EXPECT_TRUE(SwitchValue(with(false, "")));
  EXPECT_TRUE(SwitchValue(with(true, "true")));
  EXPECT_FALSE(SwitchValue(with(true, "false")));
  EXPECT_FALSE(SwitchValue(with(true, "0")));
}

TEST(OptionScannerTest, UnknownAndMissingValueAreErrors) {
  std::vector<ScannedOption> out;
  size_t i = 0;
  absl::Status unknown = ScanOption(kTable, "prog", {"--weird", "image"}, &i, &out);
  EXPECT_FALSE(unknown.ok());
  EXPECT_NE(unknown.message().find("--weird"), absl::string_view::npos);
  i = 0;
  EXPECT_FALSE(ScanOption(kTable, "prog", {"-x"}, &i, &out).ok());
  i = 0;
  EXPECT_FALSE(ScanOption(kTable, "prog", {"--bind"}, &i, &out).ok());
  i = 0;
  EXPECT_FALSE(ScanOption(kTable, "prog", {"-eB"}, &i, &out).ok());
}

}  // namespace
}  // namespace pmi_shim::engines
