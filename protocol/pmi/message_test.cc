// Tests for wire::Message: lookups, builders, equality and log rendering.
#include "protocol/pmi/message.h"

#include <cstdint>
#include <limits>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace pmi_shim::wire {
namespace {

using ::testing::ElementsAre;
using ::testing::Pair;

TEST(MessageTest, AddKeepsWireOrderAndDuplicates) {
  Message m("spawn");
  m.Add("arg1", "a").Add("argcnt", 1).Add("arg1", "b");
  EXPECT_EQ(m.command, "spawn");
  EXPECT_THAT(m.fields, ElementsAre(Pair("arg1", "a"), Pair("argcnt", "1"), Pair("arg1", "b")));
}

TEST(MessageTest, FindReturnsFirstOfDuplicates) {
  Message m("x");
  m.Add("k", "first").Add("k", "second");
  ASSERT_TRUE(m.Find("k").has_value());
  EXPECT_EQ(*m.Find("k"), "first");
}

TEST(MessageTest, FindMissingKey) {
  Message m("x");
  m.Add("key", "v");
  EXPECT_FALSE(m.Find("ke").has_value());
  EXPECT_FALSE(m.Has("value"));
  EXPECT_TRUE(m.Has("key"));
}

TEST(MessageTest, FindDistinguishesEmptyValueFromMissing) {
  Message m("put");
  m.Add("value", "");
  ASSERT_TRUE(m.Find("value").has_value());
  EXPECT_EQ(*m.Find("value"), "");
}

TEST(MessageTest, AddIntegers) {
  Message m("r");
  m.Add("rc", 0).Add("appnum", -1).Add("big", std::numeric_limits<int64_t>::max());
  EXPECT_THAT(m.fields, ElementsAre(Pair("rc", "0"), Pair("appnum", "-1"),
                                    Pair("big", "9223372036854775807")));
}

TEST(MessageTest, FindInt) {
  Message m("r");
  m.Add("rc", "-1").Add("size", "113").Add("word", "TRUE").Add("empty", "").Add("mixed", "12ab");
  EXPECT_EQ(m.FindInt("rc"), std::optional<int64_t>(-1));
  EXPECT_EQ(m.FindInt("size"), std::optional<int64_t>(113));
  EXPECT_FALSE(m.FindInt("word").has_value());
  EXPECT_FALSE(m.FindInt("empty").has_value());
  EXPECT_FALSE(m.FindInt("mixed").has_value());
  EXPECT_FALSE(m.FindInt("missing").has_value());
}

TEST(MessageTest, FindIntRejectsOverflow) {
  Message m("r");
  m.Add("n", "99999999999999999999");
  EXPECT_FALSE(m.FindInt("n").has_value());
}

TEST(MessageTest, EqualityComparesCommandAndOrderedFields) {
  Message a("get");
  a.Add("kvsname", "k").Add("key", "x");
  Message b("get");
  b.Add("kvsname", "k").Add("key", "x");
  EXPECT_EQ(a, b);
  Message reordered("get");
  reordered.Add("key", "x").Add("kvsname", "k");
  EXPECT_FALSE(a == reordered);
  Message other_command("put");
  other_command.fields = a.fields;
  EXPECT_FALSE(a == other_command);
}

TEST(MessageTest, DebugStringIsOneLine) {
  Message m("get_result");
  m.Add("rc", 0).Add("value", "(vector,(0,1,2))");
  EXPECT_EQ(m.DebugString(), "cmd=get_result rc=0 value=(vector,(0,1,2))");
}

TEST(MessageTest, DebugStringEscapesControlAndNonAsciiBytes) {
  Message m("abort");
  m.Add("message", "line1\nline2")
      .Add("kvsname",
           "\xc6\x92"
           "xyz")
      .Add("plain", "a b");
  const std::string s = m.DebugString();
  EXPECT_EQ(s.find('\n'), std::string::npos);
  EXPECT_EQ(s, "cmd=abort message=line1\\nline2 kvsname=\\xc6\\x92xyz plain=a b");
}

}  // namespace
}  // namespace pmi_shim::wire
