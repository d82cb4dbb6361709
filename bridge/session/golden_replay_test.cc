// Replays the client side of real PMI captures (MPICH under hydra, MPICH and
// Slurm's libpmi2 under a third-party server) through ServerSessions backed
// by an EmbeddedHost, and checks that every rank gets the replies the real
// server gave: the same reply commands in the same order, rc=0 where the
// real server succeeded, and the same values for every KVS get.
#include <gtest/gtest.h>

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "bridge/session/server_session.h"
#include "bridge/upstream/embedded_host.h"
#include "protocol/pmi/frame_decoder.h"
#include "test/golden/wire_fixture.h"
#include "test/testing/status_matchers.h"

namespace pmi_shim::session {
namespace {

using golden::Direction;
using golden::WireRecord;
using wire::Message;

std::vector<Message> Decode(const std::string& bytes) {
  wire::FrameDecoder decoder;
  decoder.Feed(bytes);
  std::vector<Message> messages;
  while (true) {
    auto frame = decoder.Next();
    EXPECT_OK(frame);
    if (!frame.ok() || !frame->has_value()) break;
    auto message = wire::ParseFrame(**frame);
    EXPECT_OK(message);
    if (message.ok()) messages.push_back(*message);
  }
  EXPECT_EQ(decoder.buffered_bytes(), 0u);
  return messages;
}

struct Replayed {
  std::shared_ptr<ServerSession> session;
  std::string sent_to_client;
  wire::FrameDecoder from_client;
};

class GoldenReplayTest : public ::testing::TestWithParam<const char*> {};

TEST_P(GoldenReplayTest, EmbeddedHostAnswersLikeTheRealServer) {
  absl::StatusOr<std::string> text = golden::ReadCapture(GetParam());
  ASSERT_OK(text);
  absl::StatusOr<std::vector<WireRecord>> records = golden::ParseCapture(*text);
  ASSERT_OK(records);

  // What the real server said, per rank; and the job's name and size.
  std::map<int, std::string> real_replies;
  int size = 0;
  JobInfo info;
  for (const WireRecord& record : *records) {
    size = std::max(size, record.rank + 1);
    if (record.direction != Direction::kServerToClient) continue;
    real_replies[record.rank] += record.bytes;
    for (const Message& m : Decode(record.bytes)) {
      if (auto name = m.Find("kvsname")) info.kvsname = std::string(*name);
      if (auto jobid = m.Find("jobid")) info.kvsname = std::string(*jobid);
      if (m.command == "set" && m.Has("size")) size = std::max<int>(size, *m.FindInt("size"));
    }
  }
  ASSERT_GT(size, 0);
  info.size = info.universe_size = size;
  info.process_mapping = absl::StrCat("(vector,(0,1,", size, "))");
  upstream::EmbeddedHost host(info, {});

  // Feed the client side in capture order. A PMI_PORT client ("C<?") is
  // unknown until its initack names it; its records carry rank -1.
  std::map<int, Replayed> sessions;
  auto session_for = [&](int rank, const std::string& bytes) -> Replayed& {
    if (rank < 0) {  // "cmd=initack pmiid=N": a new socket client
      rank = static_cast<int>(*Decode(bytes).at(0).FindInt("pmiid"));
    }
    Replayed& replayed = sessions[rank];
    if (replayed.session == nullptr) {
      SessionOptions options;
      if (records->at(0).rank >= 0 && !absl::StrContains(bytes, "initack")) options.rank = rank;
      SessionCallbacks callbacks;
      callbacks.send = [&replayed](std::string out) { replayed.sent_to_client += out; };
      callbacks.warn = [](absl::string_view w) { ADD_FAILURE() << "unexpected warning: " << w; };
      replayed.session = ServerSession::Create(host, options, callbacks);
    }
    return replayed;
  };
  for (const WireRecord& record : *records) {
    if (record.direction != Direction::kClientToServer) continue;
    Replayed& replayed = session_for(record.rank, record.bytes);
    replayed.from_client.Feed(record.bytes);
    while (true) {
      auto frame = replayed.from_client.Next();
      ASSERT_OK(frame);
      if (!frame->has_value()) break;
      ASSERT_OK(replayed.session->HandleFrame(**frame)) << "line " << record.line;
    }
  }

  int compared = 0;
  for (const auto& [rank, real_bytes] : real_replies) {
    SCOPED_TRACE(absl::StrCat("rank ", rank));
    std::vector<Message> real = Decode(real_bytes);
    std::vector<Message> ours = Decode(sessions[rank].sent_to_client);
    ASSERT_GE(ours.size(), real.size()) << "we answered fewer requests than the real server";
    for (size_t i = 0; i < real.size(); ++i) {
      EXPECT_EQ(ours[i].command, real[i].command) << "reply " << i;
      if (real[i].Find("rc").value_or("0") == "0") {
        EXPECT_EQ(ours[i].Find("rc").value_or("0"), "0") << ours[i].DebugString();
      }
      const bool kvs_value =
          real[i].command == "get_result" || real[i].command == "kvs-get-response";
      if (kvs_value && real[i].Has("value") &&
          !absl::StrContains(real[i].DebugString(), "(vector")) {
        EXPECT_EQ(ours[i].Find("value"), real[i].Find("value")) << "reply " << i;
      }
      ++compared;
    }
  }
  EXPECT_GT(compared, 10);
}

INSTANTIATE_TEST_SUITE_P(Captures, GoldenReplayTest,
                         ::testing::Values("mpich-hydra-wire-2ranks.txt",
                                           "mpich-pmi1-PMI_FD-thirdparty-server.log",
                                           "mpich-pmi1-PMI_PORT-thirdparty-server.log",
                                           "slurm-libpmi2-thirdparty-server.log"));

}  // namespace
}  // namespace pmi_shim::session
