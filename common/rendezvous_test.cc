#include "common/rendezvous.h"

#include "gtest/gtest.h"
#include "test/testing/status_matchers.h"

namespace pmi_shim::rendezvous {
namespace {

TEST(EnvFileTest, RoundTripKeepsOrderAndEqualsInValues) {
  const EnvEntries entries = {{"PMI_SHIM_PROTOCOL", "pmi1"},
                              {"PMI_RANK", "3"},
                              {"PMIX_SERVER_URI41", "ns.0;tcp4://127.0.0.1:4000"},
                              {"ODD", "a=b=c"}};
  absl::StatusOr<std::string> text = FormatEnvFile(entries);
  ASSERT_OK(text);
  absl::StatusOr<EnvEntries> parsed = ParseEnvFile(*text);
  ASSERT_OK(parsed);
  EXPECT_EQ(*parsed, entries);
  EXPECT_EQ(FindEnv(*parsed, "PMI_RANK"), "3");
  EXPECT_EQ(FindEnv(*parsed, "MISSING"), "");
}

TEST(EnvFileTest, RefusesNewlinesAndBadNames) {
  EXPECT_FALSE(FormatEnvFile({{"A", "x\ny"}}).ok());
  EXPECT_FALSE(FormatEnvFile({{"1A", "x"}}).ok());
  EXPECT_FALSE(FormatEnvFile({{"A-B", "x"}}).ok());
}

TEST(EnvFileTest, ParseNamesTheBadLine) {
  absl::StatusOr<EnvEntries> parsed = ParseEnvFile("# comment\nA=1\n\nnot a variable\n");
  ASSERT_FALSE(parsed.ok());
  EXPECT_NE(parsed.status().message().find("line 4"), std::string::npos) << parsed.status();
}

TEST(RequestReplyTest, RoundTripAndErrors) {
  const EnvEntries entries = {{"PMIX_NAMESPACE", "ns"}, {"PMIX_RANK", "2"}};
  absl::StatusOr<EnvEntries> back = ParseRequestReply(FormatRequestReply(entries));
  ASSERT_OK(back);
  EXPECT_EQ(*back, entries);

  const std::string error =
      FormatRequestReply(absl::UnavailableError("PMIx_server_init failed\nsecond line"));
  EXPECT_EQ(error, "error PMIx_server_init failed second line\n");
  absl::StatusOr<EnvEntries> refused = ParseRequestReply(error);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(refused.status().message(), "PMIx_server_init failed second line");

  EXPECT_EQ(ParseRequestReply("").status().code(), absl::StatusCode::kDataLoss);
  EXPECT_EQ(ParseRequestReply("ok").status().code(), absl::StatusCode::kDataLoss);
  EXPECT_EQ(ParseRequestReply("hello\n").status().code(), absl::StatusCode::kDataLoss);
  EXPECT_EQ(ParseRequestReply("ok\nnot a line\n").status().code(), absl::StatusCode::kDataLoss);
  // An entry the bridge cannot format is an error reply, not a broken one.
  EXPECT_EQ(ParseRequestReply(FormatRequestReply(EnvEntries{{"A", "x\ny"}})).status().code(),
            absl::StatusCode::kFailedPrecondition);
}

}  // namespace
}  // namespace pmi_shim::rendezvous
