// Golden tests: the real captures in test/testdata/wire/ (MPICH under hydra,
// Slurm's libpmi2 under hydra and a third-party server, MPICH and libpmi2
// under Slurm's pmi2 plugin) decode completely, parse, carry the fields the
// peers are known to send, and survive Format/Parse round trips.
#include <map>
#include <string>
#include <tuple>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/string_view.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "protocol/pmi/frame_decoder.h"
#include "protocol/pmi/message.h"
#include "protocol/pmi/pmi1.h"
#include "protocol/pmi/pmi2.h"
#include "test/golden/wire_fixture.h"
#include "test/testing/status_matchers.h"

namespace pmi_shim::wire {
namespace {

using golden::Direction;
using ::testing::ElementsAre;
using ::testing::Pair;

// Every PMI-1/PMI-2 capture (the Open MPI environment dump is no wire log).
constexpr absl::string_view kCaptures[] = {
    "mpich-hydra-wire-2ranks.txt",
    "mpich-pmi1-PMI_FD-thirdparty-server.log",
    "mpich-pmi1-PMI_PORT-thirdparty-server.log",
    "slurm-libpmi2-thirdparty-server.log",
    "slurm-libpmi2-under-hydra-wire-with-framing.txt",
    "slurm-libpmi2-under-hydra-wire.txt",
    "slurm-wire-pmi2-mpich.0.txt",
    "slurm-wire-pmi2-mpich.1.txt",
    "slurm-wire-pmi2-p2.0.txt",
};

struct Decoded {
  Frame frame;
  Message message;
};

// One direction of one connection: rank (or -1), strace pid (or -1), direction.
using StreamKey = std::tuple<int, int, Direction>;

struct Capture {
  std::map<StreamKey, std::vector<Decoded>> streams;
  size_t records = 0;
  size_t restored_length_fields = 0;
  size_t frames = 0;

  const std::vector<Decoded>& Stream(int rank, Direction direction, int pid = -1) const {
    static const std::vector<Decoded>* const kEmpty = new std::vector<Decoded>();
    auto it = streams.find({rank, pid, direction});
    return it == streams.end() ? *kEmpty : it->second;
  }
  // The only stream of a direction (strace captures trace one process).
  const std::vector<Decoded>& Only(Direction direction) const {
    const std::vector<Decoded>* found = nullptr;
    for (const auto& [key, stream] : streams) {
      if (std::get<2>(key) != direction) continue;
      EXPECT_EQ(found, nullptr) << "more than one stream";
      found = &stream;
    }
    EXPECT_NE(found, nullptr);
    return *found;
  }
};

// Feeds every stream of a capture through its own FrameDecoder; any decoding
// or parsing failure, or bytes left over at the end, fails the test.
Capture DecodeCapture(absl::string_view name) {
  Capture capture;
  absl::StatusOr<std::string> text = golden::ReadCapture(name);
  EXPECT_OK(text);
  absl::StatusOr<std::vector<golden::WireRecord>> records = golden::ParseCapture(text.value_or(""));
  EXPECT_OK(records) << name;
  if (!records.ok()) return capture;
  std::map<StreamKey, FrameDecoder> decoders;
  for (const golden::WireRecord& record : *records) {
    ++capture.records;
    if (record.length_field_restored) ++capture.restored_length_fields;
    const StreamKey key{record.rank, record.pid, record.direction};
    FrameDecoder& decoder = decoders[key];
    decoder.Feed(record.bytes);
    while (true) {
      absl::StatusOr<std::optional<Frame>> frame = decoder.Next();
      EXPECT_OK(frame) << name << " line " << record.line;
      if (!frame.ok() || !frame->has_value()) break;
      absl::StatusOr<Message> message = ParseFrame(**frame);
      EXPECT_OK(message) << name << " line " << record.line;
      if (!message.ok()) continue;
      capture.streams[key].push_back({**std::move(frame), *std::move(message)});
      ++capture.frames;
    }
  }
  for (const auto& [key, decoder] : decoders) {
    EXPECT_EQ(decoder.buffered_bytes(), 0u) << name << ": leftover bytes in a stream";
  }
  return capture;
}

std::vector<std::string> Commands(const std::vector<Decoded>& stream) {
  std::vector<std::string> out;
  for (const Decoded& d : stream) out.push_back(d.message.command);
  return out;
}

// The first message of `stream` with `command`, or an empty Message.
Message First(const std::vector<Decoded>& stream, absl::string_view command) {
  for (const Decoded& d : stream) {
    if (d.message.command == command) return d.message;
  }
  ADD_FAILURE() << "no " << command;
  return Message();
}

// PMI-1 Format/Parse is only an identity when no value holds a space (it
// would come back as a fragment glued to whatever field precedes it after
// reordering) and `value`, which Format always writes last, already is last.
bool Pmi1RoundTrips(const Message& m) {
  for (size_t i = 0; i < m.fields.size(); ++i) {
    if (absl::StrContains(m.fields[i].second, ' ')) return false;
    if (m.fields[i].first == "value" && i + 1 != m.fields.size()) return false;
  }
  return true;
}

class CaptureTest : public ::testing::TestWithParam<absl::string_view> {};

TEST_P(CaptureTest, EveryStreamDecodesIntoParsableFrames) {
  Capture capture = DecodeCapture(GetParam());
  EXPECT_GT(capture.records, 0u);
  EXPECT_GE(capture.frames, 8u);
  for (const auto& [key, stream] : capture.streams) EXPECT_FALSE(stream.empty());
}

TEST_P(CaptureTest, FormatReproducesTheWireBytes) {
  Capture capture = DecodeCapture(GetParam());
  size_t checked = 0;
  for (const auto& [key, stream] : capture.streams) {
    for (const Decoded& d : stream) {
      if (d.frame.is_spawn_block) continue;  // no spawn in the captures, no formatter
      if (d.frame.framing == Framing::kPmi2Record) {
        const std::string record = FormatPmi2(d.message);
        EXPECT_EQ(record.substr(kPmi2LengthFieldSize), d.frame.payload);
        EXPECT_EQ(ParsePmi2Payload(record.substr(kPmi2LengthFieldSize)).value(), d.message);
        ++checked;
      } else if (Pmi1RoundTrips(d.message)) {
        EXPECT_EQ(FormatPmi1(d.message), d.frame.payload + "\n");
        EXPECT_EQ(ParsePmi1Line(FormatPmi1(d.message)).value(), d.message);
        ++checked;
      }
    }
  }
  // Every message in these captures qualifies; a new capture that does not
  // should lower this bound knowingly.
  EXPECT_EQ(checked, capture.frames);
}

INSTANTIATE_TEST_SUITE_P(AllCaptures, CaptureTest, ::testing::ValuesIn(kCaptures),
                         [](const ::testing::TestParamInfo<absl::string_view>& info) {
                           std::string name;
                           for (char c : info.param) name += absl::ascii_isalnum(c) ? c : '_';
                           return name;
                         });

TEST(GoldenTest, HydraTwoRanks) {
  Capture c = DecodeCapture("mpich-hydra-wire-2ranks.txt");
  EXPECT_EQ(c.frames, 52u);  // one per line
  const auto& to_rank0 = c.Stream(0, Direction::kServerToClient);
  Message get_result = First(to_rank0, "get_result");
  EXPECT_THAT(get_result.fields, ElementsAre(Pair("rc", "0"), Pair("msg", "success"),
                                             Pair("value", "(vector,(0,1,1))")));
  // Hydra 4.0 leaves rc out of maxes and barrier_out and puts it last in init.
  EXPECT_FALSE(First(to_rank0, "maxes").Has("rc"));
  EXPECT_TRUE(First(to_rank0, "barrier_out").fields.empty());
  EXPECT_THAT(First(to_rank0, "response_to_init").fields.back(), Pair("rc", "0"));
  const auto& from_rank1 = c.Stream(1, Direction::kClientToServer);
  EXPECT_EQ(Commands(from_rank1).front(), "init");
  EXPECT_EQ(Commands(from_rank1).back(), "finalize");
  EXPECT_EQ(First(from_rank1, "put").Find("key"), "-allgather-shm-1-1");
}

TEST(GoldenTest, ThirdPartyServerPmiFdFourRanks) {
  Capture c = DecodeCapture("mpich-pmi1-PMI_FD-thirdparty-server.log");
  EXPECT_EQ(c.frames, 60u);
  for (int rank = 0; rank < 4; ++rank) {
    const auto& from = c.Stream(rank, Direction::kClientToServer);
    ASSERT_FALSE(from.empty()) << rank;
    EXPECT_EQ(from.front().message.command, "init");
    EXPECT_EQ(First(c.Stream(rank, Direction::kServerToClient), "get_result").Find("value"),
              "(vector,(0,1,4))");
  }
}

TEST(GoldenTest, PmiPortInitackReplyIsFourLines) {
  Capture c = DecodeCapture("mpich-pmi1-PMI_PORT-thirdparty-server.log");
  EXPECT_EQ(c.records, 56u);
  EXPECT_EQ(c.frames, 62u);  // the initack entries hold 4 lines each
  // Before the handshake the server does not know the rank.
  const auto& handshakes = c.Stream(-1, Direction::kClientToServer);
  ASSERT_EQ(handshakes.size(), 2u);
  EXPECT_EQ(handshakes[0].message.command, "initack");
  EXPECT_EQ(handshakes[0].message.Find("pmiid"), "0");
  EXPECT_EQ(handshakes[1].message.Find("pmiid"), "1");
  for (int rank = 0; rank < 2; ++rank) {
    const auto& to = c.Stream(rank, Direction::kServerToClient);
    ASSERT_GE(to.size(), 4u);
    EXPECT_EQ(to[0].message.command, "initack");
    EXPECT_TRUE(to[0].message.fields.empty());
    EXPECT_THAT(to[1].message.fields, ElementsAre(Pair("size", "2")));
    EXPECT_THAT(to[2].message.fields, ElementsAre(Pair("rank", std::to_string(rank))));
    EXPECT_THAT(to[3].message.fields, ElementsAre(Pair("debug", "0")));
    EXPECT_EQ(to[1].message.command, "set");
  }
}

TEST(GoldenTest, SlurmLibpmi2AgainstThirdPartyServer) {
  Capture c = DecodeCapture("slurm-libpmi2-thirdparty-server.log");
  EXPECT_EQ(c.frames, 32u);
  EXPECT_EQ(c.restored_length_fields, 14u);  // 7 PMI-2 requests per rank
  for (int rank = 0; rank < 2; ++rank) {
    const auto& from = c.Stream(rank, Direction::kClientToServer);
    EXPECT_THAT(Commands(from), ElementsAre("init", "fullinit", "job-getid", "kvs-put", "kvs-fence",
                                            "kvs-get", "info-getjobattr", "finalize"));
    EXPECT_EQ(from[0].frame.framing, Framing::kPmi1Line);
    EXPECT_EQ(from[1].frame.framing, Framing::kPmi2Record);
    Message fullinit = from[1].message;
    EXPECT_EQ(fullinit.FindInt("pmirank"), rank);
    EXPECT_EQ(fullinit.Find("threaded"), "FALSE");
    EXPECT_FALSE(fullinit.Has("pmijobid")) << "no PMI_JOBID outside Slurm";
    const auto& to = c.Stream(rank, Direction::kServerToClient);
    ASSERT_GE(to.size(), 2u);
    EXPECT_EQ(to[1].frame.payload.size(), 113u);
    EXPECT_EQ(to[1].message.FindInt("size"), 2);
    EXPECT_EQ(to[1].message.FindInt("rank"), rank);
  }
  Message got = First(c.Stream(1, Direction::kServerToClient), "kvs-get-response");
  EXPECT_THAT(got.fields,
              ElementsAre(Pair("found", "TRUE"), Pair("value", "v-from-0"), Pair("rc", "0")));
}

TEST(GoldenTest, SlurmLibpmi2UnderHydraWithFraming) {
  Capture c = DecodeCapture("slurm-libpmi2-under-hydra-wire-with-framing.txt");
  EXPECT_EQ(c.restored_length_fields, 0u);
  const auto& from = c.Only(Direction::kClientToServer);
  const auto& to = c.Only(Direction::kServerToClient);
  EXPECT_EQ(from.size(), 7u);  // this capture lost the info-getjobattr write
  EXPECT_EQ(to.size(), 8u);    // 15 reads, 7 of them lone length fields
  EXPECT_THAT(from[1].message.fields, ElementsAre(Pair("pmirank", "1"), Pair("threaded", "FALSE")));
  EXPECT_EQ(to[1].message.command, "fullinit-response");
  EXPECT_EQ(to[1].frame.payload.size(), 113u);
  EXPECT_EQ(to[1].message.FindInt("size"), 2);
  Message got = First(to, "kvs-get-response");
  EXPECT_EQ(got.Find("found"), "TRUE");
  EXPECT_EQ(got.Find("value"), "v-from-0");
}

TEST(GoldenTest, SlurmLibpmi2UnderHydraWithoutFramingMatchesFramedCapture) {
  Capture bare = DecodeCapture("slurm-libpmi2-under-hydra-wire.txt");
  Capture framed = DecodeCapture("slurm-libpmi2-under-hydra-wire-with-framing.txt");
  EXPECT_EQ(bare.restored_length_fields, 7u);
  std::vector<Message> bare_replies, framed_replies;
  for (const Decoded& d : bare.Only(Direction::kServerToClient)) bare_replies.push_back(d.message);
  for (const Decoded& d : framed.Only(Direction::kServerToClient)) {
    framed_replies.push_back(d.message);
  }
  EXPECT_EQ(bare_replies, framed_replies);
  EXPECT_EQ(First(bare.Only(Direction::kClientToServer), "info-getjobattr").Find("key"),
            "PMI_process_mapping");
}

TEST(GoldenTest, MpichUnderSlurmPmi2Plugin) {
  for (absl::string_view name : {"slurm-wire-pmi2-mpich.0.txt", "slurm-wire-pmi2-mpich.1.txt"}) {
    Capture c = DecodeCapture(name);
    EXPECT_EQ(c.frames, 26u) << name;
    const auto& to = c.Only(Direction::kServerToClient);
    // Slurm's dialect: rc first, appnum -1, kvsname job.step, barrier_out rc=0.
    EXPECT_THAT(
        First(to, "response_to_init").fields,
        ElementsAre(Pair("rc", "0"), Pair("pmi_version", "1"), Pair("pmi_subversion", "1")));
    EXPECT_EQ(First(to, "appnum").FindInt("appnum"), -1);
    EXPECT_EQ(First(to, "my_kvsname").Find("kvsname"), "2.0");
    EXPECT_THAT(First(to, "barrier_out").fields, ElementsAre(Pair("rc", "0")));
    EXPECT_EQ(First(to, "get_result").Find("value"), "(vector,(0,1,2))");
  }
}

TEST(GoldenTest, SlurmLibpmi2UnderSlurmPmi2Plugin) {
  Capture c = DecodeCapture("slurm-wire-pmi2-p2.0.txt");
  const auto& from = c.Only(Direction::kClientToServer);
  const auto& to = c.Only(Direction::kServerToClient);
  EXPECT_EQ(from.size(), 8u);
  EXPECT_EQ(to.size(), 8u);
  EXPECT_THAT(
      First(from, "fullinit").fields,
      ElementsAre(Pair("pmijobid", "1.0"), Pair("pmirank", "0"), Pair("threaded", "FALSE")));
  Message reply = First(to, "fullinit-response");
  EXPECT_EQ(to[1].frame.payload.size(), 114u);
  EXPECT_THAT(reply.fields.front(), Pair("rc", "0"));
  EXPECT_EQ(reply.FindInt("appnum"), -1);
  EXPECT_EQ(reply.FindInt("size"), 2);
  Message got = First(to, "kvs-get-response");
  EXPECT_THAT(got.fields,
              ElementsAre(Pair("rc", "0"), Pair("found", "TRUE"), Pair("value", "v-from-1")));
}

TEST(GoldenTest, EnvironmentDumpIsNotAWireCapture) {
  absl::StatusOr<std::string> text = golden::ReadCapture("ompi-mpirun-rank0-env.txt");
  ASSERT_OK(text);
  EXPECT_FALSE(golden::ParseCapture(*text).ok());
}

}  // namespace
}  // namespace pmi_shim::wire
