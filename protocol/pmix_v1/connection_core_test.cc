// The connection state machine driven by the real client's bytes.
#include "protocol/pmix_v1/connection_core.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "protocol/pmix_v1/capture_fixture.h"

namespace pmi_shim::protocol::pmix_v1 {
namespace {

using testing::Captured;
using ::testing::HasSubstr;
using ::testing::SizeIs;

ConnectionCore::Options Bound(std::string nspace = "capture-ns", int rank = 0) {
  ConnectionCore::Options options;
  options.nspace = std::move(nspace);
  options.rank = rank;
  return options;
}

TEST(ConnectionCoreTest, WholeCapturedSessionByteByByte) {
  ConnectionCore core(Bound());
  std::vector<Event> events;
  std::string all;
  for (const auto& [name, bytes] : testing::CapturedMessages()) {
    if (name != "abort") all += bytes;  // the abort came from a second run
  }
  ASSERT_FALSE(all.empty());
  // The handshake must be answered before anything else is read.
  const std::string connect = Captured("connect");
  for (char c : connect) ASSERT_TRUE(core.Feed(std::string(1, c), events).ok());
  ASSERT_THAT(events, SizeIs(1));
  EXPECT_EQ(events[0].kind, Event::Kind::kHandshake);
  EXPECT_EQ(events[0].connect.gds, "ds12");
  core.AcceptHandshake();
  EXPECT_EQ(core.TakeOutput(), std::string("\0\0\0\0\0\0\0\0", 8));
  for (size_t i = connect.size(); i < all.size(); ++i) {
    ASSERT_TRUE(core.Feed(all.substr(i, 1), events).ok()) << "byte " << i;
  }
  std::vector<Command> commands;
  for (size_t i = 1; i < events.size(); ++i) {
    EXPECT_EQ(events[i].kind, Event::Kind::kRequest);
    commands.push_back(events[i].command);
  }
  EXPECT_EQ(commands,
            (std::vector<Command>{Command::kRequestJobInfo, Command::kCommit, Command::kFence,
                                  Command::kFence, Command::kGet, Command::kFinalize}));
  EXPECT_EQ(core.state(), ConnectionCore::State::kFinalized);
  // Replies carry the request's tag.
  core.Reply(events[3].tag, EncodeStatusReply(kSuccess));
  absl::StatusOr<Header> header = DecodeHeader(core.TakeOutput(), 1 << 20);
  ASSERT_TRUE(header.ok());
  EXPECT_EQ(header->tag, events[3].tag);
}

TEST(ConnectionCoreTest, RefusesAClientClaimingAnotherRank) {
  ConnectionCore core(Bound("capture-ns", 3));
  std::vector<Event> events;
  absl::Status status = core.Feed(Captured("connect"), events);
  EXPECT_FALSE(status.ok());
  EXPECT_THAT(status.message(), HasSubstr("claimed rank 0"));
  EXPECT_THAT(status.message(), HasSubstr("socket of rank 3"));
  EXPECT_TRUE(events.empty());
  // The client reads a refusal, not a bare EOF.
  const std::string reply = core.TakeOutput();
  ASSERT_EQ(reply.size(), 4u);
  EXPECT_EQ(static_cast<int32_t>(ReadLittleEndian32(reply.data())), kErrInvalidNamespace);
}

TEST(ConnectionCoreTest, RefusesAnotherNamespace) {
  ConnectionCore core(Bound("other-ns", 0));
  std::vector<Event> events;
  EXPECT_FALSE(core.Feed(Captured("connect"), events).ok());
}

TEST(ConnectionCoreTest, RefusesAnOversizedHeader) {
  ConnectionCore core(Bound());
  std::vector<Event> events;
  ASSERT_TRUE(core.Feed(Captured("connect"), events).ok());
  core.AcceptHandshake();
  const std::string huge = EncodeHeader(Header{0, 5, 1ull << 40});
  absl::Status status = core.Feed(huge, events);
  EXPECT_FALSE(status.ok());
  EXPECT_THAT(status.message(), HasSubstr("limit"));
  EXPECT_EQ(core.state(), ConnectionCore::State::kClosed);
}

TEST(ConnectionCoreTest, RefusesAMalformedHeaderAndABadConnect) {
  ConnectionCore core(Bound());
  std::vector<Event> events;
  ASSERT_TRUE(core.Feed(Captured("connect"), events).ok());
  core.AcceptHandshake();
  EXPECT_FALSE(
      core.Feed(EncodeMessage(9, 1, EncodeSimpleCommand(Command::kFinalize)), events).ok());
  ConnectionCore fresh(Bound());
  EXPECT_FALSE(fresh.Feed(EncodeMessage(0, 1, "abc"), events).ok());
  ConnectionCore eager(Bound());
  EXPECT_FALSE(eager.Feed(Captured("connect") + Captured("req"), events).ok());
}

TEST(ConnectionCoreTest, UnknownCommandAndBadBodyGetAnErrorReply) {
  ConnectionCore core(Bound());
  std::vector<Event> events;
  ASSERT_TRUE(core.Feed(Captured("connect"), events).ok());
  core.AcceptHandshake();
  core.TakeOutput();
  events.clear();
  Packer unknown;
  unknown.PackUint32(99);
  ASSERT_TRUE(core.Feed(EncodeMessage(0, 7, unknown.bytes()), events).ok());
  ASSERT_THAT(events, SizeIs(1));
  EXPECT_EQ(events[0].kind, Event::Kind::kRefused);
  EXPECT_THAT(events[0].problem, HasSubstr("99"));
  std::string out = core.TakeOutput();
  EXPECT_EQ(DecodeStatusReply(out.substr(kHeaderBytes)).value(), kErrNotSupported);
  EXPECT_EQ(DecodeHeader(out, 1 << 20)->tag, 7u);
  // A fence whose body is cut short.
  std::string fence = EncodeFence({{{"capture-ns", kRankWildcard}}, {}, true});
  fence.resize(fence.size() - 3);
  ASSERT_TRUE(core.Feed(EncodeMessage(0, 8, fence), events).ok());
  EXPECT_EQ(events.back().kind, Event::Kind::kRefused);
  out = core.TakeOutput();
  EXPECT_EQ(DecodeStatusReply(out.substr(kHeaderBytes)).value(), kErrBadParam);
  EXPECT_EQ(core.state(), ConnectionCore::State::kReady);
}

TEST(ConnectionCoreEventsTest, ErrorHandlerRegistrationIsAccepted) {
  ConnectionCore core(Bound());
  std::vector<Event> events;
  ASSERT_TRUE(core.Feed(Captured("connect"), events).ok());
  core.AcceptHandshake();
  core.TakeOutput();
  events.clear();
  Packer regevents;
  regevents.PackCommand(Command::kRegisterEvents);
  regevents.PackSize(0);
  ASSERT_TRUE(core.Feed(EncodeMessage(0, 4, regevents.bytes()), events).ok());
  EXPECT_TRUE(events.empty());
  const std::string out = core.TakeOutput();
  EXPECT_EQ(DecodeHeader(out, 1 << 20)->tag, 4u);
  EXPECT_EQ(DecodeStatusReply(out.substr(kHeaderBytes)).value(), kSuccess);
}

}  // namespace
}  // namespace pmi_shim::protocol::pmix_v1
