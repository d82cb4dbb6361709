#include "protocol/pmix/pmix_handshake.h"

#include <arpa/inet.h>

#include <cstring>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "test/testing/status_matchers.h"

namespace pmi_shim::pmix {
namespace {

using ::testing::HasSubstr;

void AppendHostU32(std::string& out, uint32_t value) {
  out.append(reinterpret_cast<const char*>(&value), 4);
}
void AppendNetU32(std::string& out, uint32_t value) { AppendHostU32(out, htonl(value)); }
void AppendString(std::string& out, const std::string& text) {
  out.append(text.c_str(), text.size() + 1);
}

// A v4+ client's connect message, laid out as protocols.md §4.4/§5.4 shows.
std::string ConnectMessage(const std::string& module, uint32_t uid, uint32_t gid, uint8_t flag) {
  std::string payload;
  AppendString(payload, module);
  if (module == "native") {
    AppendNetU32(payload, 8);
    AppendHostU32(payload, uid);
    AppendHostU32(payload, gid);
  } else {
    AppendNetU32(payload, 0);
  }
  payload.push_back(static_cast<char>(flag));
  if (flag >= 3) {
    AppendNetU32(payload, uid);
    AppendNetU32(payload, gid);
  }
  if (flag == 0 || flag >= 4) {
    AppendString(payload, "prterun-n1-4242@1");
    AppendNetU32(payload, 0);
  }
  AppendString(payload, "5.0.9");
  AppendString(payload, "v41");
  payload.push_back(1);
  AppendString(payload, "hash");
  std::string message;
  AppendHostU32(message, 0xFFFFFFFFu);
  AppendHostU32(message, 0xFFFFFFFFu);
  AppendHostU32(message, static_cast<uint32_t>(payload.size()));
  AppendHostU32(message, 0);
  return message + payload;
}

TEST(PmixHandshakeTest, LengthNeedsTheWholeHeader) {
  const std::string message = ConnectMessage("native", 1000, 1000, 0);
  EXPECT_EQ(message.size(), 74u) << "the §5.4 capture is 74 bytes";
  auto partial = PmixConnectMessageLength(message.substr(0, 15));
  ASSERT_OK(partial);
  EXPECT_FALSE(partial->has_value());
  auto full = PmixConnectMessageLength(message + "trailing");
  ASSERT_OK(full);
  EXPECT_EQ(**full, 74u);
}

TEST(PmixHandshakeTest, RefusesWhatIsNotAConnectMessage) {
  auto length = PmixConnectMessageLength(std::string(16, '\x01'));
  EXPECT_THAT(length, testutil::StatusIs(::testing::_, HasSubstr("not a PMIx connect request")));
}

TEST(PmixHandshakeTest, NativeCredentialOfASimpleClientIsRewritten) {
  const std::string in_namespace = ConnectMessage("native", 0, 0, 0);
  auto rewritten = RewritePmixConnectIdentity(in_namespace, 1000, 1001);
  ASSERT_OK(rewritten);
  EXPECT_EQ(*rewritten, ConnectMessage("native", 1000, 1001, 0));
}

TEST(PmixHandshakeTest, ToolEffectiveIdsAreRewrittenToo) {
  auto rewritten = RewritePmixConnectIdentity(ConnectMessage("native", 0, 0, 4), 7, 8);
  ASSERT_OK(rewritten);
  EXPECT_EQ(*rewritten, ConnectMessage("native", 7, 8, 4));
}

TEST(PmixHandshakeTest, OtherSecurityModulesPassUnchanged) {
  const std::string none = ConnectMessage("none", 0, 0, 0);
  auto rewritten = RewritePmixConnectIdentity(none, 1000, 1000);
  ASSERT_OK(rewritten);
  EXPECT_EQ(*rewritten, none);
}

TEST(PmixHandshakeTest, TruncatedMessagesAreErrorsNotCrashes) {
  const std::string message = ConnectMessage("native", 0, 0, 4);
  for (size_t cut = 16; cut < 40; ++cut) {
    auto rewritten = RewritePmixConnectIdentity(message.substr(0, cut), 1, 1);
    EXPECT_FALSE(rewritten.ok()) << "cut at " << cut;
  }
}

}  // namespace
}  // namespace pmi_shim::pmix
