// Pure pieces: env-file parsing and the mismatch checker.
#include "absl/strings/str_cat.h"
#include "bridge/diagnose/host_env_source.h"
#include "bridge/diagnose/transcript.h"
#include "gtest/gtest.h"
#include "protocol/pmi/message.h"

namespace pmi_shim::diagnose {
namespace {

TEST(HostEnvSourceTest, ReadsLinesAndNulSeparatedEntries) {
  upstream::Environment lines =
      ParseEnvironmentText("# comment\nexport PMI_FD=6\n\nPMI_RANK=0\r\nPMI_SIZE=2\n");
  EXPECT_EQ(lines.at("PMI_FD"), "6");
  EXPECT_EQ(lines.at("PMI_RANK"), "0");
  EXPECT_EQ(lines.at("PMI_SIZE"), "2");
  upstream::Environment nul = ParseEnvironmentText(std::string("A=1 2\0B=x=y\0", 12));
  EXPECT_EQ(nul.at("A"), "1 2");
  EXPECT_EQ(nul.at("B"), "x=y");
}

wire::Message Msg(const std::string& command,
                  std::vector<std::pair<std::string, std::string>> fields) {
  wire::Message m(command);
  for (auto& [k, v] : fields) m.Add(k, v);
  return m;
}

TEST(MismatchCheckerTest, RecognisesTheKnownMismatches) {
  MismatchChecker checker;
  const auto c2s = Direction::kClientToServer, s2c = Direction::kServerToClient;
  // libpmi2 in PMI_PORT mode, then hydra closes.
  EXPECT_TRUE(
      checker.Check(0, c2s, Msg("init", {{"pmi_version", "2"}, {"pmi_subversion", "0"}}), "")
          .empty());
  EXPECT_TRUE(
      checker.Check(0, s2c, Msg("response_to_init", {{"pmi_version", "2"}, {"rc", "0"}}), "")
          .empty());
  auto found = checker.Check(0, c2s, Msg("fullinit", {{"srcid", "0"}, {"threaded", "FALSE"}}), "");
  ASSERT_EQ(found.size(), 1u);
  EXPECT_NE(found[0].find("pmirank"), std::string::npos);
  found = checker.CheckClose(0, s2c);
  ASSERT_EQ(found.size(), 1u);
  EXPECT_NE(found[0].find("unable to find pmirank"), std::string::npos);

  // PMI-1 client, server refuses PMI-1.
  checker.Check(1, c2s, Msg("init", {{"pmi_version", "1"}, {"pmi_subversion", "1"}}), "");
  found = checker.Check(
      1, s2c, Msg("response_to_init", {{"rc", "1"}, {"pmi_version", "2"}, {"pmi_subversion", "0"}}),
      "");
  ASSERT_EQ(found.size(), 1u);
  EXPECT_NE(found[0].find("refused PMI-1"), std::string::npos);

  // Limits, spaces.
  checker.Check(2, c2s, Msg("get_maxes", {}), "");
  checker.Check(
      2, s2c,
      Msg("maxes",
          {{"rc", "0"}, {"kvsname_max", "256"}, {"keylen_max", "8"}, {"vallen_max", "16"}}),
      "");
  found = checker.Check(
      2, c2s,
      Msg("put",
          {{"kvsname", "k"}, {"key", "a-much-longer-key"}, {"value", "has space and is long"}}),
      "");
  EXPECT_EQ(found.size(), 3u);  // space, key too long, value too long
  // -NONEXIST-KEY answered found=TRUE.
  checker.Check(3, c2s, Msg("kvs-get", {{"key", "-NONEXIST-KEY"}}), "");
  found = checker.Check(
      3, s2c, Msg("kvs-get-response", {{"rc", "0"}, {"found", "TRUE"}, {"value", "x"}}), "");
  ASSERT_EQ(found.size(), 1u);
  // ... and found=FALSE is fine.
  checker.Check(3, c2s, Msg("kvs-get", {{"key", "-NONEXIST-KEY"}}), "");
  EXPECT_TRUE(checker.Check(3, s2c, Msg("kvs-get-response", {{"rc", "0"}, {"found", "FALSE"}}), "")
                  .empty());
  // A client that closes without finalize.
  EXPECT_EQ(checker.CheckClose(3, c2s).size(), 1u);
}

TEST(TranscriptTest, WritesHumanAndJsonLines) {
  std::FILE* out = std::tmpfile();
  const absl::Time start = absl::Now();
  Transcript human(out, Transcript::Format::kHuman, start);
  human.Record(start + absl::Milliseconds(1), 0, Direction::kClientToServer,
               Msg("fullinit", {{"srcid", "0"}}), "cmd=fullinit;srcid=0;");
  EXPECT_EQ(human.mismatches().size(), 1u);
  Transcript json(out, Transcript::Format::kJson, start);
  json.Record(start, 1, Direction::kServerToClient, Msg("maxes", {{"rc", "0"}}), "cmd=maxes rc=0");
  std::rewind(out);
  char buffer[4096];
  size_t n = std::fread(buffer, 1, sizeof(buffer), out);
  std::fclose(out);
  const std::string text(buffer, n);
  EXPECT_NE(text.find("+0.001000 rank 0 C->S cmd=fullinit srcid=0"), std::string::npos) << text;
  EXPECT_NE(text.find("rank 0 !! fullinit without pmirank"), std::string::npos) << text;
  EXPECT_NE(text.find(R"("cmd":"maxes","dir":"s2c","fields":[["rc","0"]])"), std::string::npos)
      << text;
}

}  // namespace
}  // namespace pmi_shim::diagnose
