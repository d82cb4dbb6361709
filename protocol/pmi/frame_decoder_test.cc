// Tests for FrameDecoder: per-frame framing choice, spawn block boundaries,
// limits, sticky errors, and independence from how the bytes were split.
#include "protocol/pmi/frame_decoder.h"

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "protocol/pmi/message.h"
#include "test/testing/status_matchers.h"

namespace pmi_shim::wire {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Pair;

// What a decoder produced for some input: its frames and how it stopped.
struct Decoded {
  std::vector<Frame> frames;
  absl::Status status;  // the error that stopped decoding, or OK
  size_t leftover = 0;  // buffered_bytes() at the end
};

// Feeds `chunks` in order, draining complete frames after each one.
Decoded DecodeChunks(const std::vector<std::string>& chunks, FrameLimits limits = {}) {
  FrameDecoder decoder(limits);
  Decoded out;
  for (const std::string& chunk : chunks) {
    decoder.Feed(chunk);
    while (true) {
      absl::StatusOr<std::optional<Frame>> frame = decoder.Next();
      if (!frame.ok()) {
        out.status = frame.status();
        out.leftover = decoder.buffered_bytes();
        return out;
      }
      if (!frame->has_value()) break;
      out.frames.push_back(**frame);
    }
  }
  out.leftover = decoder.buffered_bytes();
  return out;
}

Decoded DecodeAll(absl::string_view bytes, FrameLimits limits = {}) {
  return DecodeChunks({std::string(bytes)}, limits);
}

std::vector<std::string> OneByteChunks(absl::string_view bytes) {
  std::vector<std::string> chunks;
  for (char c : bytes) chunks.emplace_back(1, c);
  return chunks;
}

bool SameFrames(const std::vector<Frame>& a, const std::vector<Frame>& b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (a[i].framing != b[i].framing || a[i].payload != b[i].payload ||
        a[i].is_spawn_block != b[i].is_spawn_block) {
      return false;
    }
  }
  return true;
}

std::vector<std::string> Payloads(const Decoded& d) {
  std::vector<std::string> out;
  for (const Frame& f : d.frames) out.push_back(f.payload);
  return out;
}

constexpr absl::string_view kSpawnTwoSegments =
    "mcmd=spawn\nnprocs=1\nexecname=a\ntotspawns=2\nspawnssofar=1\nargcnt=0\ninfo_num=0\n"
    "endcmd\n"
    "mcmd=spawn\nnprocs=1\nexecname=b\ntotspawns=2\nspawnssofar=2\nargcnt=0\ninfo_num=0\n"
    "endcmd\n";

// A PMI-2 client's whole conversation start plus a spawn block and a line:
// every kind of frame, both length paddings, a CRLF line.
const std::string& MixedStream() {
  static const std::string* s = new std::string(absl::StrCat(
      "cmd=init pmi_version=2 pmi_subversion=0\n", "38    cmd=fullinit;pmirank=1;threaded=FALSE;",
      "    14cmd=job-getid;", "000013cmd=finalize;", kSpawnTwoSegments, "cmd=barrier_in\r\n"));
  return *s;
}

TEST(FrameDecoderTest, Pmi1LinesWithoutNewline) {
  Decoded d = DecodeAll("cmd=init pmi_version=1 pmi_subversion=1\ncmd=get_maxes\n");
  ASSERT_OK(d.status);
  EXPECT_THAT(Payloads(d), ElementsAre("cmd=init pmi_version=1 pmi_subversion=1", "cmd=get_maxes"));
  EXPECT_EQ(d.frames[0].framing, Framing::kPmi1Line);
  EXPECT_FALSE(d.frames[0].is_spawn_block);
  EXPECT_EQ(d.leftover, 0u);
}

TEST(FrameDecoderTest, WaitsWhilePrefixOfCmdOrMcmd) {
  for (absl::string_view prefix : {"c", "cm", "cmd", "m", "mc", "mcm", "mcmd"}) {
    Decoded d = DecodeAll(prefix);
    EXPECT_OK(d.status) << prefix;
    EXPECT_TRUE(d.frames.empty()) << prefix;
    EXPECT_EQ(d.leftover, prefix.size()) << prefix;
  }
}

TEST(FrameDecoderTest, NonPrefixStartIsAnEarlyError) {
  for (absl::string_view start : {"cx", "mcx", "hello", " cmd=init\n", "12a"}) {
    Decoded d = DecodeAll(start);
    EXPECT_EQ(d.status.code(), absl::StatusCode::kInvalidArgument) << start;
  }
}

TEST(FrameDecoderTest, PartialLengthFieldWaits) {
  Decoded d = DecodeAll("  12 ");
  EXPECT_OK(d.status);
  EXPECT_EQ(d.leftover, 5u);
}

TEST(FrameDecoderTest, Pmi2RecordsAllPaddings) {
  Decoded d = DecodeAll(
      "    26cmd=kvs-put-response;rc=0;28    cmd=kvs-fence-response;rc=0;"
      "000013cmd=finalize;");
  ASSERT_OK(d.status);
  EXPECT_THAT(Payloads(d), ElementsAre("cmd=kvs-put-response;rc=0;", "cmd=kvs-fence-response;rc=0;",
                                       "cmd=finalize;"));
  for (const Frame& f : d.frames) EXPECT_EQ(f.framing, Framing::kPmi2Record);
}

TEST(FrameDecoderTest, Pmi2PayloadMayContainNewlinesAndCmdPrefixes) {
  Decoded d = DecodeAll("    17cmd=x;v=a\ncmd=y;;");
  ASSERT_OK(d.status);
  EXPECT_THAT(Payloads(d), ElementsAre("cmd=x;v=a\ncmd=y;;"));
}

TEST(FrameDecoderTest, Pmi1LineThenPmi2RecordsOnOneStream) {
  Decoded d = DecodeAll(MixedStream());
  ASSERT_OK(d.status);
  ASSERT_EQ(d.frames.size(), 6u);
  EXPECT_EQ(d.frames[0].framing, Framing::kPmi1Line);
  EXPECT_EQ(d.frames[1].framing, Framing::kPmi2Record);
  EXPECT_EQ(d.frames[1].payload, "cmd=fullinit;pmirank=1;threaded=FALSE;");
  EXPECT_EQ(d.frames[2].payload, "cmd=job-getid;");
  EXPECT_EQ(d.frames[3].payload, "cmd=finalize;");
  EXPECT_TRUE(d.frames[4].is_spawn_block);
  EXPECT_EQ(d.frames[4].payload, kSpawnTwoSegments);
  EXPECT_EQ(d.frames[5].payload, "cmd=barrier_in\r");
  EXPECT_EQ(d.leftover, 0u);
}

TEST(FrameDecoderTest, OneByteAtATimeEqualsAllAtOnce) {
  Decoded whole = DecodeAll(MixedStream());
  Decoded bytewise = DecodeChunks(OneByteChunks(MixedStream()));
  ASSERT_OK(bytewise.status);
  EXPECT_TRUE(SameFrames(whole.frames, bytewise.frames));
  EXPECT_EQ(bytewise.leftover, 0u);
}

TEST(FrameDecoderTest, EverySplitPointEqualsAllAtOnce) {
  const std::string& s = MixedStream();
  Decoded whole = DecodeAll(s);
  for (size_t cut = 0; cut <= s.size(); ++cut) {
    Decoded split = DecodeChunks({s.substr(0, cut), s.substr(cut)});
    ASSERT_OK(split.status) << "cut " << cut;
    ASSERT_TRUE(SameFrames(whole.frames, split.frames)) << "cut " << cut;
  }
}

TEST(FrameDecoderTest, IncompleteRecordIsLeftBuffered) {
  Decoded d = DecodeAll("    26cmd=kvs-put-response;");
  ASSERT_OK(d.status);
  EXPECT_TRUE(d.frames.empty());
  EXPECT_EQ(d.leftover, 27u);
}

TEST(FrameDecoderTest, SpawnNeedsTheSegmentWhereSoFarReachesTotal) {
  const std::string first_segment(kSpawnTwoSegments.substr(0, kSpawnTwoSegments.find("mcmd", 1)));
  Decoded partial = DecodeAll(first_segment);
  ASSERT_OK(partial.status);
  EXPECT_TRUE(partial.frames.empty()) << "totspawns=2 must wait for the second endcmd";
  Decoded full = DecodeAll(absl::StrCat(kSpawnTwoSegments, "cmd=get_maxes\n"));
  ASSERT_OK(full.status);
  ASSERT_EQ(full.frames.size(), 2u);
  EXPECT_TRUE(full.frames[0].is_spawn_block);
  EXPECT_EQ(full.frames[0].payload, kSpawnTwoSegments);
  EXPECT_EQ(full.frames[1].payload, "cmd=get_maxes");
}

TEST(FrameDecoderTest, Mpich3SpawnFieldOrderAndSeparateWrites) {
  // MPICH-3: args before argcnt, preput in every segment, one write per line.
  const std::string block =
      "mcmd=spawn\nnprocs=1\nexecname=a\ntotspawns=2\nspawnssofar=1\narg1=x y\nargcnt=1\n"
      "preput_num=1\npreput_key_0=k\npreput_val_0=v\ninfo_num=0\nendcmd\n"
      "mcmd=spawn\nnprocs=1\nexecname=b\ntotspawns=2\nspawnssofar=2\nargcnt=0\n"
      "preput_num=1\npreput_key_0=k\npreput_val_0=v\ninfo_num=0\nendcmd\n";
  std::vector<std::string> lines;
  for (size_t start = 0; start < block.size();) {
    const size_t end = block.find('\n', start) + 1;
    lines.push_back(block.substr(start, end - start));
    start = end;
  }
  Decoded d = DecodeChunks(lines);
  ASSERT_OK(d.status);
  ASSERT_EQ(d.frames.size(), 1u);
  EXPECT_EQ(d.frames[0].payload, block);
  absl::StatusOr<Message> m = ParseFrame(d.frames[0]);
  ASSERT_OK(m);
  EXPECT_EQ(*m->Find("arg1"), "x y");
}

TEST(FrameDecoderTest, SpawnSegmentWithoutUsableCountsOrPastTotalEndsBlock) {
  for (absl::string_view block :
       {"mcmd=spawn\nnprocs=1\nendcmd\n", "mcmd=spawn\ntotspawns=two\nspawnssofar=1\nendcmd\n",
        "mcmd=spawn\ntotspawns=2\nendcmd\n",
        "mcmd=spawn\r\ntotspawns=3\r\nspawnssofar=5\r\nendcmd\r\n"}) {
    Decoded d = DecodeAll(absl::StrCat(block, "cmd=x\n"));
    ASSERT_OK(d.status);
    ASSERT_EQ(d.frames.size(), 2u) << block;
    EXPECT_EQ(d.frames[0].payload, block);
    EXPECT_TRUE(d.frames[0].is_spawn_block);
  }
}

TEST(FrameDecoderTest, LineLimit) {
  const FrameLimits limits{16};
  EXPECT_OK(DecodeAll("cmd=123456789012\n", limits).status);  // 16 bytes + '\n'
  Decoded too_long = DecodeAll("cmd=1234567890123\n", limits);
  EXPECT_THAT(too_long.status.message(), HasSubstr("PMI-1 line is longer than the 16-byte"));
  // No '\n' within the limit fails before the line is complete.
  Decoded no_newline = DecodeChunks(OneByteChunks("cmd=1234567890123"), limits);
  EXPECT_EQ(no_newline.status.code(), absl::StatusCode::kResourceExhausted);
  Decoded waiting = DecodeAll("cmd=123456789012", limits);
  EXPECT_OK(waiting.status);
}

TEST(FrameDecoderTest, Pmi2LengthLimit) {
  Decoded d = DecodeAll("    17", FrameLimits{16});
  EXPECT_EQ(d.status.message(), "PMI-2 record of 17 bytes is longer than the 16-byte frame limit");
  EXPECT_EQ(d.status.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_OK(DecodeAll("    16cmd=a;b=0123456;", FrameLimits{16}).status);
  EXPECT_THAT(DecodeAll("999999").status.message(), HasSubstr("65536-byte frame limit"));
}

TEST(FrameDecoderTest, SpawnBlockLimit) {
  const std::string block = "mcmd=spawn\nnprocs=1\nendcmd\n";  // 27 bytes
  EXPECT_EQ(DecodeAll(block, FrameLimits{27}).frames.size(), 1u);
  Decoded whole = DecodeAll(block, FrameLimits{26});
  EXPECT_THAT(whole.status.message(), HasSubstr("mcmd= block is longer than the 26-byte"));
  Decoded bytewise = DecodeChunks(OneByteChunks(block), FrameLimits{26});
  EXPECT_EQ(bytewise.status.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_TRUE(bytewise.frames.empty());
}

TEST(FrameDecoderTest, BadLengthFields) {
  EXPECT_THAT(DecodeAll("  1 2 cmd=x;").status.message(), HasSubstr("not a decimal number"));
  EXPECT_THAT(DecodeAll("     0").status.message(), HasSubstr("is zero"));
}

TEST(FrameDecoderTest, ErrorsAreSticky) {
  FrameDecoder decoder;
  decoder.Feed("cmd=ok\n!bad");
  ASSERT_OK(decoder.Next());
  absl::StatusOr<std::optional<Frame>> first = decoder.Next();
  ASSERT_FALSE(first.ok());
  decoder.Feed("cmd=fine\n");
  absl::StatusOr<std::optional<Frame>> again = decoder.Next();
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(again.status(), first.status());
}

TEST(FrameDecoderTest, LongLineFedByteByByteStaysLinear) {
  // Rescanning from the frame start on every byte would take ~2*10^12 steps.
  const std::string line = absl::StrCat("cmd=put value=", std::string(2 << 20, 'v'), "\n");
  FrameDecoder decoder(FrameLimits{4 << 20});
  size_t frames = 0;
  for (char c : line) {
    decoder.Feed(absl::string_view(&c, 1));
    absl::StatusOr<std::optional<Frame>> f = decoder.Next();
    ASSERT_OK(f);
    if (f->has_value()) ++frames;
  }
  EXPECT_EQ(frames, 1u);
  EXPECT_EQ(decoder.buffered_bytes(), 0u);
}

TEST(FrameDecoderTest, ManySmallFramesInOneFeed) {
  std::string stream;
  for (int i = 0; i < 20000; ++i)
    absl::StrAppend(&stream, "cmd=barrier_in\n", "    14cmd=kvs-fence;");
  Decoded d = DecodeAll(stream);
  ASSERT_OK(d.status);
  EXPECT_EQ(d.frames.size(), 40000u);
  EXPECT_EQ(d.leftover, 0u);
}

TEST(ParseFrameTest, DispatchesByFraming) {
  Decoded d = DecodeAll(MixedStream());
  ASSERT_EQ(d.frames.size(), 6u);
  std::vector<std::string> commands;
  for (const Frame& f : d.frames) {
    absl::StatusOr<Message> m = ParseFrame(f);
    ASSERT_OK(m) << " for " << f.payload;
    commands.push_back(m->command);
  }
  EXPECT_THAT(commands,
              ElementsAre("init", "fullinit", "job-getid", "finalize", "spawn", "barrier_in"));
  absl::StatusOr<Message> fullinit = ParseFrame(d.frames[1]);
  EXPECT_THAT(fullinit->fields, ElementsAre(Pair("pmirank", "1"), Pair("threaded", "FALSE")));
}

TEST(ParseFrameTest, PropagatesCodecErrors) {
  Frame line{Framing::kPmi1Line, "key=x", false};
  EXPECT_THAT(ParseFrame(line).status().message(), HasSubstr("no cmd="));
  Frame record{Framing::kPmi2Record, "cmd=x;novalue;", false};
  EXPECT_THAT(ParseFrame(record).status().message(), HasSubstr("has no '='"));
  Frame block{Framing::kPmi1Line, "mcmd=spawn\nnprocs=1\n", true};
  EXPECT_THAT(ParseFrame(block).status().message(), HasSubstr("endcmd"));
}

}  // namespace
}  // namespace pmi_shim::wire
