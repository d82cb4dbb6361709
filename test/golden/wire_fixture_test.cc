// Tests for the capture reader: each format, continuation lines, strace
// escapes and split syscalls, and the restoring of dropped PMI-2 length fields.
#include "test/golden/wire_fixture.h"

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "test/testing/status_matchers.h"

namespace pmi_shim::golden {
namespace {

using ::testing::HasSubstr;
using ::testing::SizeIs;

std::vector<WireRecord> MustParse(absl::string_view text) {
  absl::StatusOr<std::vector<WireRecord>> records = ParseCapture(text);
  EXPECT_OK(records);
  return records.ok() ? *records : std::vector<WireRecord>();
}

TEST(WireFixtureTest, HydraTrace) {
  std::vector<WireRecord> r = MustParse(
      "rank0 -> cmd=init pmi_version=1 pmi_subversion=1\\n\n"
      "rank12 <- cmd=barrier_out\\n\n");
  ASSERT_THAT(r, SizeIs(2));
  EXPECT_EQ(r[0].rank, 0);
  EXPECT_EQ(r[0].direction, Direction::kClientToServer);
  EXPECT_EQ(r[0].bytes, "cmd=init pmi_version=1 pmi_subversion=1\n");
  EXPECT_EQ(r[1].rank, 12);
  EXPECT_EQ(r[1].direction, Direction::kServerToClient);
  EXPECT_EQ(r[1].bytes, "cmd=barrier_out\n");
  EXPECT_EQ(r[1].line, 2);
}

TEST(WireFixtureTest, ServerLogWithContinuationAndUnknownRank) {
  std::vector<WireRecord> r = MustParse(
      "C<?: cmd=initack pmiid=0\n"
      "S>0: cmd=initack\n"
      "cmd=set size=2\n"
      "cmd=set rank=0\n"
      "C<0: cmd=init pmi_version=1 pmi_subversion=1\n");
  ASSERT_THAT(r, SizeIs(3));
  EXPECT_EQ(r[0].rank, -1);
  EXPECT_EQ(r[0].bytes, "cmd=initack pmiid=0\n");
  EXPECT_EQ(r[1].rank, 0);
  EXPECT_EQ(r[1].bytes, "cmd=initack\ncmd=set size=2\ncmd=set rank=0\n");
  EXPECT_EQ(r[2].direction, Direction::kClientToServer);
}

TEST(WireFixtureTest, ServerLogPmi2RecordsKeepOrRegainTheirLengthField) {
  std::vector<WireRecord> r = MustParse(
      "C<0: cmd=init pmi_version=2 pmi_subversion=0\n"
      "C<0: cmd=job-getid;\n"
      "S>0:     26cmd=kvs-put-response;rc=0;\n");
  ASSERT_THAT(r, SizeIs(3));
  EXPECT_EQ(r[0].bytes, "cmd=init pmi_version=2 pmi_subversion=0\n");
  EXPECT_FALSE(r[0].length_field_restored);
  EXPECT_EQ(r[1].bytes, "14    cmd=job-getid;");  // client side: left-aligned
  EXPECT_TRUE(r[1].length_field_restored);
  EXPECT_EQ(r[2].bytes, "    26cmd=kvs-put-response;rc=0;");
  EXPECT_FALSE(r[2].length_field_restored);
}

TEST(WireFixtureTest, StraceSplitSyscallsAndSeparateLengthReads) {
  std::vector<WireRecord> r = MustParse(
      "3727  write(8, \"38    cmd=fullinit;pmirank=1;threaded=FALSE;\", 44) = 44\n"
      "3727  read(8,  <unfinished ...>\n"
      "3727  <... read resumed>\"    26\", 6)    = 6\n"
      "3727  read(8, \"cmd=kvs-put-response;rc=0;\", 26) = 26\n"
      "3727  read(8, \"cmd=x\\n\\t\\\"\\\\\\001\", 1023) = 10\n");
  ASSERT_THAT(r, SizeIs(4));
  EXPECT_EQ(r[0].pid, 3727);
  EXPECT_EQ(r[0].rank, -1);
  EXPECT_EQ(r[0].direction, Direction::kClientToServer);
  EXPECT_EQ(r[0].bytes, "38    cmd=fullinit;pmirank=1;threaded=FALSE;");
  EXPECT_EQ(r[1].bytes, "    26");
  EXPECT_EQ(r[1].direction, Direction::kServerToClient);
  EXPECT_EQ(r[2].bytes, "cmd=kvs-put-response;rc=0;");
  EXPECT_FALSE(r[2].length_field_restored) << "its length field was read just before";
  EXPECT_EQ(r[3].bytes, std::string("cmd=x\n\t\"\\\001"));
}

TEST(WireFixtureTest, StraceBarePayloadRegainsRightAlignedLength) {
  std::vector<WireRecord> r =
      MustParse("3727  <... read resumed>\"cmd=kvs-put-response;rc=0;\", 26) = 26\n");
  ASSERT_THAT(r, SizeIs(1));
  EXPECT_EQ(r[0].bytes, "    26cmd=kvs-put-response;rc=0;");
  EXPECT_TRUE(r[0].length_field_restored);
}

TEST(WireFixtureTest, StraceShortWriteAndFailedCalls) {
  std::vector<WireRecord> r = MustParse(
      "1  write(3, \"cmd=abc\\n\", 8) = 4\n"
      "1  read(3, 0x7ffd, 1023) = -1 EAGAIN (Resource temporarily unavailable)\n");
  ASSERT_THAT(r, SizeIs(1));
  EXPECT_EQ(r[0].bytes, "cmd=");
}

TEST(WireFixtureTest, Rejections) {
  EXPECT_THAT(ParseCapture("HOME=/root\nPATH=/bin\n").status().message(),
              HasSubstr("not a PMI wire capture"));
  EXPECT_THAT(ParseCapture("").status().message(), HasSubstr("empty capture"));
  EXPECT_THAT(ParseCapture("1  read(3, \"cmd=ab\"..., 1023) = 300\n").status().message(),
              HasSubstr("truncated"));
  EXPECT_THAT(ParseCapture("1  read(3, \"cmd=ab\\n\", 1023) = 9\n").status().message(),
              HasSubstr("returned 9"));
  EXPECT_THAT(ParseCapture("1  openat(3, \"x\", 0) = 4\n").status().message(),
              HasSubstr("unexpected syscall"));
  EXPECT_THAT(ParseCapture("rank0 => cmd=x\n").status().message(), HasSubstr("capture line 1"));
  EXPECT_THAT(ParseCapture("cmd=set size=2\n").status().message(),
              HasSubstr("not a PMI wire capture"));
}

TEST(WireFixtureTest, ReadsTheRealCaptures) {
  absl::StatusOr<std::string> text = ReadCapture("slurm-wire-pmi2-p2.0.txt");
  ASSERT_OK(text);
  absl::StatusOr<std::vector<WireRecord>> records = ParseCapture(*text);
  ASSERT_OK(records);
  EXPECT_THAT(*records, SizeIs(8 + 15));  // 8 writes, 15 reads (7 lone length fields)
  EXPECT_FALSE(ReadCapture("no-such-capture.txt").ok());
}

}  // namespace
}  // namespace pmi_shim::golden
