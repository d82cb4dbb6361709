#include "bridge/engines/shell_words.h"

#include "gtest/gtest.h"
#include "test/testing/status_matchers.h"

namespace pmi_shim::engines {
namespace {

TEST(ShellWordsTest, QuotesOnlyWhatTheShellWouldTouch) {
  EXPECT_EQ(QuoteShellWord("/opt/pmi-shim/bin/pmi-shim-client"),
            "/opt/pmi-shim/bin/pmi-shim-client");
  EXPECT_EQ(QuoteShellWord("--env=A=b,c:d"), "--env=A=b,c:d");
  EXPECT_EQ(QuoteShellWord("a b"), "'a b'");
  EXPECT_EQ(QuoteShellWord("PMI_*"), "'PMI_*'");
  EXPECT_EQ(QuoteShellWord("$HOME"), "'$HOME'");
  EXPECT_EQ(QuoteShellWord("it's"), "'it'\\''s'");
  EXPECT_EQ(QuoteShellWord(""), "''");
}

TEST(ShellWordsTest, SplitInvertsJoin) {
  const std::vector<std::string> words = {"ch-run", "--unset-env=PMI_*", "a b", "it's", "", "x"};
  absl::StatusOr<std::vector<std::string>> back = SplitShellWords(JoinShellWords(words));
  ASSERT_OK(back);
  EXPECT_EQ(*back, words);
}

TEST(ShellWordsTest, DoubleQuotesAndBackslashes) {
  absl::StatusOr<std::vector<std::string>> words = SplitShellWords(R"(a "b \"c\"" d\ e)");
  ASSERT_OK(words);
  EXPECT_EQ(*words, (std::vector<std::string>{"a", "b \"c\"", "d e"}));
}

TEST(ShellWordsTest, UnterminatedQuoteIsAnError) {
  EXPECT_FALSE(SplitShellWords("a 'b").ok());
  EXPECT_FALSE(SplitShellWords("a \"b").ok());
}

}  // namespace
}  // namespace pmi_shim::engines
