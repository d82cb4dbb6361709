// Tests for the PMI-2 codec: length-field paddings, payload leniencies and
// rejections, and the exact bytes FormatPmi2 writes.
#include "protocol/pmi/pmi2.h"

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "test/testing/status_matchers.h"

namespace pmi_shim::wire {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Pair;

std::string LengthRejection(absl::string_view field) {
  absl::StatusOr<size_t> n = ParsePmi2Length(field);
  if (n.ok()) {
    ADD_FAILURE() << "accepted \"" << field << "\" as " << *n;
    return "";
  }
  EXPECT_EQ(n.status().code(), absl::StatusCode::kInvalidArgument);
  return std::string(n.status().message());
}

std::string PayloadRejection(absl::string_view payload) {
  absl::StatusOr<Message> m = ParsePmi2Payload(payload);
  if (m.ok()) {
    ADD_FAILURE() << "accepted: " << m->DebugString();
    return "";
  }
  EXPECT_EQ(m.status().code(), absl::StatusCode::kInvalidArgument);
  return std::string(m.status().message());
}

TEST(ParsePmi2LengthTest, AllPaddingsSeenOnTheWire) {
  EXPECT_EQ(ParsePmi2Length("   113").value_or(0), 113u);  // new MPICH / Hydra "%6u"
  EXPECT_EQ(ParsePmi2Length("113   ").value_or(0), 113u);  // Slurm, MPICH-3 client "%-6d"
  EXPECT_EQ(ParsePmi2Length("000113").value_or(0), 113u);  // zero padding
  EXPECT_EQ(ParsePmi2Length(" 0038 ").value_or(0), 38u);   // both sides plus zeros
  EXPECT_EQ(ParsePmi2Length("999999").value_or(0), 999999u);
  EXPECT_EQ(ParsePmi2Length("     1").value_or(0), 1u);
}

TEST(ParsePmi2LengthTest, Rejections) {
  EXPECT_EQ(LengthRejection("ab    "), "PMI-2 length field \"ab    \" is not a decimal number");
  EXPECT_THAT(LengthRejection("  1 2 "), HasSubstr("not a decimal number"));
  EXPECT_THAT(LengthRejection("      "), HasSubstr("not a decimal number"));
  EXPECT_THAT(LengthRejection("  +12 "), HasSubstr("not a decimal number"));
  EXPECT_THAT(LengthRejection("  -12 "), HasSubstr("not a decimal number"));
  EXPECT_THAT(LengthRejection("\t   12"), HasSubstr("not a decimal number"));
  EXPECT_THAT(LengthRejection("    0 "), HasSubstr("is zero"));
  EXPECT_THAT(LengthRejection("000000"), HasSubstr("is zero"));
  EXPECT_THAT(LengthRejection("12"), HasSubstr("not 6"));
  EXPECT_THAT(LengthRejection("1234567"), HasSubstr("not 6"));
}

TEST(ParsePmi2PayloadTest, SlurmFullinit) {
  absl::StatusOr<Message> m =
      ParsePmi2Payload("cmd=fullinit;pmijobid=1.0;pmirank=0;threaded=FALSE;");
  ASSERT_OK(m);
  EXPECT_EQ(m->command, "fullinit");
  EXPECT_THAT(m->fields, ElementsAre(Pair("pmijobid", "1.0"), Pair("pmirank", "0"),
                                     Pair("threaded", "FALSE")));
}

TEST(ParsePmi2PayloadTest, BareCommand) {
  absl::StatusOr<Message> m = ParsePmi2Payload("cmd=kvs-fence;");
  ASSERT_OK(m);
  EXPECT_EQ(m->command, "kvs-fence");
  EXPECT_THAT(m->fields, IsEmpty());
}

TEST(ParsePmi2PayloadTest, MissingFinalSemicolon) {
  absl::StatusOr<Message> m = ParsePmi2Payload("cmd=kvs-get-response;rc=0;found=FALSE");
  ASSERT_OK(m);
  EXPECT_THAT(m->fields, ElementsAre(Pair("rc", "0"), Pair("found", "FALSE")));
  ASSERT_OK(ParsePmi2Payload("cmd=finalize"));
}

TEST(ParsePmi2PayloadTest, DoubledSemicolonIsOneLiteral) {
  absl::StatusOr<Message> m = ParsePmi2Payload("cmd=kvs-put;key=k;value=a;;b;;;;c;");
  ASSERT_OK(m);
  EXPECT_THAT(m->fields, ElementsAre(Pair("key", "k"), Pair("value", "a;b;;c")));
}

TEST(ParsePmi2PayloadTest, CmdAnywhereAndValuesWithEquals) {
  absl::StatusOr<Message> m = ParsePmi2Payload("thrid=0x7f00;cmd=kvs-get;key=a=b;");
  ASSERT_OK(m);
  EXPECT_EQ(m->command, "kvs-get");
  EXPECT_THAT(m->fields, ElementsAre(Pair("thrid", "0x7f00"), Pair("key", "a=b")));
}

TEST(ParsePmi2PayloadTest, SpacesAreOrdinaryBytes) {
  absl::StatusOr<Message> m = ParsePmi2Payload("cmd=abort;isworld=TRUE;msg=it went wrong;");
  ASSERT_OK(m);
  EXPECT_EQ(*m->Find("msg"), "it went wrong");
}

TEST(ParsePmi2PayloadTest, EmptyValue) {
  absl::StatusOr<Message> m = ParsePmi2Payload("cmd=kvs-put;key=k;value=;");
  ASSERT_OK(m);
  EXPECT_THAT(m->fields, ElementsAre(Pair("key", "k"), Pair("value", "")));
}

TEST(ParsePmi2PayloadTest, Rejections) {
  EXPECT_THAT(PayloadRejection("cmd=kvs-get;jobid;key=k;"), HasSubstr("\"jobid\" has no '='"));
  EXPECT_THAT(PayloadRejection("key=k;value=v;"), HasSubstr("no cmd= token"));
  EXPECT_THAT(PayloadRejection(""), HasSubstr("empty"));
  EXPECT_THAT(PayloadRejection("cmd=x;=v;"), HasSubstr("empty key"));
  EXPECT_THAT(PayloadRejection("cmd=;"), HasSubstr("empty cmd="));
  EXPECT_THAT(PayloadRejection("cmd=a;cmd=b;"), HasSubstr("more than one cmd="));
  EXPECT_THAT(PayloadRejection(";cmd=a;"), HasSubstr("has no '='"));
  EXPECT_THAT(PayloadRejection(std::string("cmd=a;k=\0;", 10)), HasSubstr("NUL"));
}

TEST(FormatPmi2Test, RightAlignedLengthAndExactPayload) {
  Message m("kvs-put-response");
  m.Add("rc", 0);
  EXPECT_EQ(FormatPmi2(m), "    26cmd=kvs-put-response;rc=0;");
}

TEST(FormatPmi2Test, LengthCountsThePayloadOnly) {
  Message m("fullinit-response");
  m.Add("pmi-version", 2).Add("pmi-subversion", 0).Add("rank", 0).Add("size", 2);
  m.Add("appnum", 0).Add("debugged", "FALSE").Add("pmiverbose", "FALSE").Add("rc", 0);
  const std::string record = FormatPmi2(m);
  // The reply the third-party server sent to Slurm's libpmi2, byte for byte.
  EXPECT_EQ(record,
            "   113cmd=fullinit-response;pmi-version=2;pmi-subversion=0;rank=0;size=2;"
            "appnum=0;debugged=FALSE;pmiverbose=FALSE;rc=0;");
  ASSERT_EQ(ParsePmi2Length(absl::string_view(record).substr(0, 6)).value_or(0), record.size() - 6);
}

TEST(FormatPmi2Test, LongPayloadStillFillsSixBytes) {
  Message m("kvs-put");
  m.Add("key", "k").Add("value", std::string(100000, 'x'));
  const std::string record = FormatPmi2(m);
  EXPECT_EQ(record.substr(0, 6), "100025");
  EXPECT_EQ(record.size(), 100031u);
}

TEST(FormatPmi2Test, RoundTrip) {
  Message m("kvs-get-response");
  m.Add("rc", 0).Add("found", "TRUE").Add("value", "v-from-0").Add("empty", "");
  const std::string record = FormatPmi2(m);
  absl::StatusOr<Message> back = ParsePmi2Payload(absl::string_view(record).substr(6));
  ASSERT_OK(back);
  EXPECT_EQ(*back, m);
}

TEST(Pmi2FormatTest, SemicolonInAValueIsDoubledAndReadsBack) {
  Message reply("kvs-get-response");
  reply.Add("rc", 0).Add("value", "a;b;;c");
  const std::string record = FormatPmi2(reply);
  EXPECT_EQ(record.substr(6), "cmd=kvs-get-response;rc=0;value=a;;b;;;;c;");
  absl::StatusOr<Message> back = ParsePmi2Payload(record.substr(6));
  ASSERT_OK(back);
  EXPECT_EQ(*back, reply);
}

}  // namespace
}  // namespace pmi_shim::wire
