// Tests for the PMI-1 codec: every leniency pmi1.h promises, every rejection,
// the spawn block layouts of both MPICH generations, and formatting.
#include "protocol/pmi/pmi1.h"

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

// Parses a line that must be valid.
Message MustParse(absl::string_view line) {
  absl::StatusOr<Message> m = ParsePmi1Line(line);
  EXPECT_OK(m) << " for line: " << line;
  return m.ok() ? *m : Message();
}

// The error message for a line that must be rejected.
std::string Rejection(absl::string_view line) {
  absl::StatusOr<Message> m = ParsePmi1Line(line);
  if (m.ok()) {
    ADD_FAILURE() << "accepted: " << m->DebugString();
    return "";
  }
  EXPECT_EQ(m.status().code(), absl::StatusCode::kInvalidArgument);
  return std::string(m.status().message());
}

TEST(ParsePmi1LineTest, InitRequest) {
  Message m = MustParse("cmd=init pmi_version=1 pmi_subversion=1\n");
  EXPECT_EQ(m.command, "init");
  EXPECT_THAT(m.fields, ElementsAre(Pair("pmi_version", "1"), Pair("pmi_subversion", "1")));
}

TEST(ParsePmi1LineTest, NewlineIsOptional) {
  EXPECT_EQ(MustParse("cmd=barrier_in"), MustParse("cmd=barrier_in\n"));
  EXPECT_THAT(MustParse("cmd=barrier_in").fields, IsEmpty());
}

TEST(ParsePmi1LineTest, CrLfLineEnd) {
  Message m = MustParse("cmd=get_result rc=0 value=abc\r\n");
  EXPECT_EQ(*m.Find("value"), "abc");
  EXPECT_EQ(MustParse("cmd=barrier_out\r").command, "barrier_out");
}

TEST(ParsePmi1LineTest, CarriageReturnIsABlankAnywhere) {
  Message m = MustParse("cmd=abort\rexitcode=1 message=a\rb\r\r\n");
  EXPECT_THAT(m.fields, ElementsAre(Pair("exitcode", "1"), Pair("message", "a b")));
  EXPECT_THAT(Rejection("cmd=\r\r"), HasSubstr("empty cmd="));
  EXPECT_THAT(Rejection("\r\r\n"), HasSubstr("empty PMI-1 line"));
}

TEST(ParsePmi1LineTest, TokensInAnyOrderWithCmdNotFirst) {
  // Hydra 3.x writes rc last; some writers put cmd= after other keys.
  Message m = MustParse("rc=0 pmi_version=1 cmd=response_to_init pmi_subversion=1\n");
  EXPECT_EQ(m.command, "response_to_init");
  EXPECT_THAT(m.fields,
              ElementsAre(Pair("rc", "0"), Pair("pmi_version", "1"), Pair("pmi_subversion", "1")));
}

TEST(ParsePmi1LineTest, RunsOfSpacesAndTabs) {
  Message m = MustParse("  cmd=get \t kvsname=kvs_1   key=bc-0\t\n");
  EXPECT_EQ(m.command, "get");
  EXPECT_THAT(m.fields, ElementsAre(Pair("kvsname", "kvs_1"), Pair("key", "bc-0")));
}

TEST(ParsePmi1LineTest, ValueMayContainEquals) {
  // MPICH's segmented values are literally `segments=3`.
  Message m = MustParse("cmd=put kvsname=k key=bc value=segments=3\n");
  EXPECT_EQ(*m.Find("value"), "segments=3");
  EXPECT_EQ(*MustParse("cmd=x a==b=").Find("a"), "=b=");
}

TEST(ParsePmi1LineTest, FragmentWithoutEqualsContinuesPreviousValue) {
  Message m = MustParse("cmd=abort exitcode=3 message=rank  1\tfailed badly\n");
  EXPECT_THAT(m.fields, ElementsAre(Pair("exitcode", "3"), Pair("message", "rank 1 failed badly")));
}

TEST(ParsePmi1LineTest, FragmentContinuesLastFieldEvenBeforeMoreFields) {
  Message m = MustParse("cmd=put value=a b key=k\n");
  EXPECT_THAT(m.fields, ElementsAre(Pair("value", "a b"), Pair("key", "k")));
}

TEST(ParsePmi1LineTest, FragmentAfterCmdIsRejected) {
  EXPECT_THAT(Rejection("cmd=get_maxes now\n"), HasSubstr("\"now\" has no '='"));
  EXPECT_THAT(Rejection("hello cmd=init\n"), HasSubstr("\"hello\" has no '='"));
}

TEST(ParsePmi1LineTest, HydraFoundTrailerIsKept) {
  Message m = MustParse("cmd=get_result rc=0 value=1a1b found=TRUE\n");
  EXPECT_EQ(*m.Find("value"), "1a1b");
  EXPECT_EQ(*m.Find("found"), "TRUE");
  EXPECT_EQ(m.FindInt("rc"), 0);
}

TEST(ParsePmi1LineTest, Hydra3MsgSuccess) {
  Message m = MustParse("cmd=get_result rc=0 msg=success value=(vector,(0,1,1))\n");
  EXPECT_THAT(m.fields, ElementsAre(Pair("rc", "0"), Pair("msg", "success"),
                                    Pair("value", "(vector,(0,1,1))")));
}

TEST(ParsePmi1LineTest, EmptyValues) {
  Message m = MustParse("cmd=put kvsname=k key=x value=\n");
  ASSERT_TRUE(m.Find("value").has_value());
  EXPECT_EQ(*m.Find("value"), "");
  EXPECT_THAT(MustParse("cmd=initack rc= rank=0").fields,
              ElementsAre(Pair("rc", ""), Pair("rank", "0")));
}

TEST(ParsePmi1LineTest, NonAsciiKvsnameIsOpaqueBytes) {
  Message m = MustParse(
      "cmd=my_kvsname rc=0 kvsname=\xc6\x92"
      "abc\n");
  EXPECT_EQ(*m.Find("kvsname"),
            "\xc6\x92"
            "abc");
}

TEST(ParsePmi1LineTest, RejectsNul) {
  EXPECT_THAT(Rejection(std::string("cmd=put key=a\0b value=c\n", 24)), HasSubstr("NUL"));
}

TEST(ParsePmi1LineTest, RejectsEmptyLines) {
  for (absl::string_view line : {"", "\n", "\r\n", "   \t \n"}) {
    EXPECT_THAT(Rejection(line), HasSubstr("empty PMI-1 line")) << "line: " << line;
  }
}

TEST(ParsePmi1LineTest, RejectsMissingCmd) {
  EXPECT_THAT(Rejection("kvsname=k key=x\n"), HasSubstr("PMI-1 line has no cmd= token"));
  EXPECT_THAT(Rejection("mcmd=spawn\n"), HasSubstr("ParsePmi1Spawn"));
}

TEST(ParsePmi1LineTest, RejectsMalformedTokens) {
  EXPECT_THAT(Rejection("cmd=put =v\n"), HasSubstr("empty key"));
  EXPECT_THAT(Rejection("cmd=\n"), HasSubstr("empty cmd="));
  EXPECT_THAT(Rejection("cmd=get cmd=put\n"), HasSubstr("more than one cmd="));
  EXPECT_THAT(Rejection("cmd=get\ncmd=put\n"), HasSubstr("newline"));
}

TEST(ParsePmi1LineTest, ErrorQuotesLongTokensShortly) {
  const std::string msg = Rejection("cmd=x " + std::string(5000, 'z'));
  EXPECT_LT(msg.size(), 200u);
  EXPECT_THAT(msg, HasSubstr("5000 bytes"));
}

TEST(FormatPmi1Test, CommandFirstValueLastNewlineAtEnd) {
  Message m("put");
  m.Add("value", "0a0b").Add("kvsname", "kvs_1").Add("key", "bc-0");
  EXPECT_EQ(FormatPmi1(m), "cmd=put kvsname=kvs_1 key=bc-0 value=0a0b\n");
}

TEST(FormatPmi1Test, HydraTrailerMovesBeforeValue) {
  Message m = MustParse("cmd=get_result rc=0 value=1a1b found=TRUE\n");
  EXPECT_EQ(FormatPmi1(m), "cmd=get_result rc=0 found=TRUE value=1a1b\n");
}

TEST(FormatPmi1Test, BareCommandAndEmptyValue) {
  EXPECT_EQ(FormatPmi1(Message("barrier_out")), "cmd=barrier_out\n");
  Message m("put_result");
  m.Add("rc", 0).Add("msg", "");
  EXPECT_EQ(FormatPmi1(m), "cmd=put_result rc=0 msg=\n");
}

TEST(FormatPmi1Test, RoundTripsWhenValueIsLast) {
  for (absl::string_view line : {
           "cmd=maxes rc=0 kvsname_max=256 keylen_max=64 vallen_max=1024\n",
           "cmd=get_result rc=0 msg=success value=(vector,(0,1,1))\n",
           "cmd=abort exitcode=1 message=it broke\n",
           "cmd=response_to_init pmi_version=1 pmi_subversion=1 rc=0\n",
       }) {
    Message m = MustParse(line);
    EXPECT_EQ(FormatPmi1(m), line);
    EXPECT_EQ(MustParse(FormatPmi1(m)), m);
  }
}

// New MPICH: all segments in one write; args 1-based, preput only in the
// first segment, each segment opened by its own mcmd=spawn.
constexpr absl::string_view kNewMpichSpawn =
    "mcmd=spawn\nnprocs=2\nexecname=/bin/a b\ntotspawns=2\nspawnssofar=1\nargcnt=2\n"
    "arg1=--opt=x\narg2=two words\npreput_num=1\npreput_key_0=PARENT\npreput_val_0=p=1\n"
    "info_num=0\nendcmd\n"
    "mcmd=spawn\nnprocs=1\nexecname=/bin/c\ntotspawns=2\nspawnssofar=2\nargcnt=0\n"
    "info_num=1\ninfo_key_0=wdir\ninfo_val_0=/tmp\nendcmd\n";

TEST(ParsePmi1SpawnTest, NewMpichTwoSegments) {
  absl::StatusOr<Message> m = ParsePmi1Spawn(kNewMpichSpawn);
  ASSERT_OK(m);
  EXPECT_EQ(m->command, "spawn");
  EXPECT_THAT(
      m->fields,
      ElementsAre(Pair("nprocs", "2"), Pair("execname", "/bin/a b"), Pair("totspawns", "2"),
                  Pair("spawnssofar", "1"), Pair("argcnt", "2"), Pair("arg1", "--opt=x"),
                  Pair("arg2", "two words"), Pair("preput_num", "1"),
                  Pair("preput_key_0", "PARENT"), Pair("preput_val_0", "p=1"),
                  Pair("info_num", "0"), Pair("endcmd", ""), Pair("nprocs", "1"),
                  Pair("execname", "/bin/c"), Pair("totspawns", "2"), Pair("spawnssofar", "2"),
                  Pair("argcnt", "0"), Pair("info_num", "1"), Pair("info_key_0", "wdir"),
                  Pair("info_val_0", "/tmp"), Pair("endcmd", "")));
}

TEST(ParsePmi1SpawnTest, Mpich3ArgsBeforeArgcntPreputInEverySegment) {
  absl::StatusOr<Message> m = ParsePmi1Spawn(
      "mcmd=spawn\r\nnprocs=1\r\nexecname=x\r\ntotspawns=1\r\nspawnssofar=1\r\narg1=a\r\n"
      "argcnt=1\r\npreput_num=1\r\npreput_key_0=k\r\npreput_val_0=v\r\ninfo_num=0\r\n"
      "endcmd\r\n");
  ASSERT_OK(m);
  EXPECT_THAT(m->fields,
              ElementsAre(Pair("nprocs", "1"), Pair("execname", "x"), Pair("totspawns", "1"),
                          Pair("spawnssofar", "1"), Pair("arg1", "a"), Pair("argcnt", "1"),
                          Pair("preput_num", "1"), Pair("preput_key_0", "k"),
                          Pair("preput_val_0", "v"), Pair("info_num", "0"), Pair("endcmd", "")));
}

TEST(ParsePmi1SpawnTest, FinalNewlineIsOptional) {
  absl::StatusOr<Message> m = ParsePmi1Spawn("mcmd=spawn\nnprocs=1\nendcmd");
  ASSERT_OK(m);
  EXPECT_THAT(m->fields, ElementsAre(Pair("nprocs", "1"), Pair("endcmd", "")));
}

TEST(ParsePmi1SpawnTest, SegmentWithoutFieldsIsLeftToTheSession) {
  absl::StatusOr<Message> m = ParsePmi1Spawn("mcmd=spawn\nendcmd\n");
  ASSERT_OK(m);
  EXPECT_THAT(m->fields, ElementsAre(Pair("endcmd", "")));
}

TEST(ParsePmi1SpawnTest, Rejections) {
  struct Case {
    absl::string_view block;
    absl::string_view error;
  };
  for (const Case& c : {
           Case{"nprocs=1\nendcmd\n", "does not start with mcmd=spawn"},
           Case{"cmd=spawn\nendcmd\n", "does not start with mcmd=spawn"},
           Case{"mcmd=spawn\nnprocs=1\n", "does not end with endcmd"},
           Case{"mcmd=spawn\nnprocs=1\nendcmd\nnprocs=2\n", "does not end with endcmd"},
           Case{"mcmd=spawn\nnprocs 1\nendcmd\n", "has no '='"},
           Case{"mcmd=spawn\n\nendcmd\n", "has no '='"},
           Case{"mcmd=spawn\n=1\nendcmd\n", "empty key"},
           Case{"mcmd=spawnx\nendcmd\n", "is not spawn"},
           Case{"mcmd=spawn\nendcmd=\nendcmd\n", "reserved key endcmd"},
           Case{"mcmd=spawn\nnprocs=1\nendcmd\nendcmd\n", "endcmd outside a segment"},
           Case{"mcmd=spawn\nnprocs=1\nmcmd=spawn\nendcmd\n", "before its endcmd"},
           Case{absl::string_view("mcmd=spawn\narg1=a\0b\nendcmd\n", 27), "NUL"},
       }) {
    absl::StatusOr<Message> m = ParsePmi1Spawn(c.block);
    ASSERT_FALSE(m.ok()) << "accepted: " << c.block;
    EXPECT_EQ(m.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(m.status().message(), HasSubstr(c.error)) << c.block;
  }
}

}  // namespace
}  // namespace pmi_shim::wire
