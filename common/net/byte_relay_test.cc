// ByteRelay between two socketpairs (the test holds the client's and the
// target's far ends): both directions, half-close, backpressure, errors, a
// refused connect, the first-message rewrite and the tap.
#include "common/net/byte_relay.h"

#include <gtest/gtest.h>
#include <sys/socket.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/time/clock.h"
#include "common/net/net_test_util.h"
#include "common/sockets.h"
#include "test/testing/status_matchers.h"

namespace pmi_shim::net {
namespace {

using testing::Pattern;
using testing::ReadNow;
using testing::RunFor;
using testing::RunUntil;
using testing::ShrinkBuffers;
using testing::SocketPair;
using testing::WriteNow;

// The relay under test and the test's ends of its two connections.
struct Harness {
  EventLoop loop;
  UniqueFd client;  // what the relayed client holds
  UniqueFd target;  // what the target server holds
  std::unique_ptr<ByteRelay> relay;
  std::vector<absl::Status> outcomes;

  explicit Harness(ByteRelay::Options options = {}, bool small_buffers = false) {
    auto [client_near, client_far] = SocketPair();
    auto [target_near, target_far] = SocketPair();
    if (small_buffers) {
      for (int fd : {client_near.get(), client_far.get(), target_near.get(), target_far.get()}) {
        ShrinkBuffers(fd);
      }
    }
    client = std::move(client_far);
    target = std::move(target_far);
    absl::StatusOr<std::unique_ptr<ByteRelay>> started = ByteRelay::Start(
        loop, std::move(client_near), std::move(target_near), Stream::State::kConnected,
        std::move(options), [this](absl::Status outcome) { outcomes.push_back(outcome); });
    EXPECT_OK(started);
    if (started.ok()) relay = *std::move(started);
  }
};

TEST(ByteRelayTest, BothDirectionsWithHalfCloseThenDone) {
  Harness h;
  ASSERT_EQ(WriteNow(h.client.get(), "ping"), 4u);
  ::shutdown(h.client.get(), SHUT_WR);
  std::string at_target;
  bool target_eof = false;
  ASSERT_TRUE(RunUntil(h.loop, [&] {
    at_target += ReadNow(h.target.get(), &target_eof);
    return target_eof;
  }));
  EXPECT_EQ(at_target, "ping");
  EXPECT_TRUE(h.outcomes.empty()) << "done while the target may still answer";
  // The target answers after the client's end-of-stream.
  ASSERT_EQ(WriteNow(h.target.get(), "pong"), 4u);
  ::shutdown(h.target.get(), SHUT_WR);
  std::string at_client;
  bool client_eof = false;
  ASSERT_TRUE(RunUntil(h.loop, [&] {
    at_client += ReadNow(h.client.get(), &client_eof);
    return client_eof && !h.outcomes.empty();
  }));
  EXPECT_EQ(at_client, "pong");
  ASSERT_EQ(h.outcomes.size(), 1u);
  EXPECT_OK(h.outcomes[0]);
  EXPECT_TRUE(h.relay->done());
}

TEST(ByteRelayTest, AStalledTargetStopsTheRelayReadingTheClient) {
  ByteRelay::Options options;
  options.max_buffered_bytes = 8 * 1024;
  Harness h(options, /*small_buffers=*/true);
  const std::string sent = Pattern(4 << 20);
  size_t written = 0;
  auto write_more = [&] {
    written += WriteNow(h.client.get(), absl::string_view(sent).substr(written));
  };
  // The target reads nothing: the client soon cannot write any more.
  RunUntil(
      h.loop,
      [&] {
        write_more();
        return false;
      },
      absl::Milliseconds(300));
  const size_t stalled_at = written;
  EXPECT_LT(stalled_at, 1u << 20) << "the relay buffered without bound";
  RunUntil(
      h.loop,
      [&] {
        write_more();
        return false;
      },
      absl::Milliseconds(100));
  EXPECT_EQ(written, stalled_at) << "the relay kept reading a client whose target is stalled";
  // The target drains: everything arrives, intact and in order.
  std::string received;
  ASSERT_TRUE(RunUntil(
      h.loop,
      [&] {
        write_more();
        received += ReadNow(h.target.get());
        return received.size() == sent.size();
      },
      absl::Seconds(30)));
  EXPECT_TRUE(received == sent) << "bytes lost or reordered";
}

TEST(ByteRelayTest, BackpressureHoldsInTheOtherDirectionToo) {
  ByteRelay::Options options;
  options.max_buffered_bytes = 8 * 1024;
  Harness h(options, /*small_buffers=*/true);
  const std::string sent = Pattern(1 << 20);
  size_t written = 0;
  std::string received;
  const absl::Time reader_starts = absl::Now() + absl::Milliseconds(100);
  ASSERT_TRUE(RunUntil(
      h.loop,
      [&] {
        written += WriteNow(h.target.get(), absl::string_view(sent).substr(written));
        if (absl::Now() > reader_starts) received += ReadNow(h.client.get());  // a late reader
        return received.size() == sent.size();
      },
      absl::Seconds(30)));
  EXPECT_TRUE(received == sent);
}

// The client's bytes exceed the buffer before the target's connect is
// done: reading pauses, and resumes once the queued bytes left.
TEST(ByteRelayTest, AClientFasterThanTheTargetsConnectIsResumed) {
  EventLoop loop;
  absl::StatusOr<TcpListener> server = ListenTcp4("127.0.0.1", 0);
  ASSERT_OK(server);
  absl::StatusOr<UniqueFd> target = StartConnectTcp4("127.0.0.1", server->port);
  ASSERT_OK(target);
  auto [client_near, client_far] = SocketPair();
  const std::string sent = Pattern(64 * 1024);  // 16 times the buffer, within the socket's
  ASSERT_EQ(WriteNow(client_far.get(), sent), sent.size()) << "the socketpair took less";
  ::shutdown(client_far.get(), SHUT_WR);
  ByteRelay::Options options;
  options.max_buffered_bytes = 4096;
  std::vector<absl::Status> outcomes;
  absl::StatusOr<std::unique_ptr<ByteRelay>> relay =
      ByteRelay::Start(loop, std::move(client_near), *std::move(target), Stream::State::kConnecting,
                       options, [&](absl::Status outcome) { outcomes.push_back(outcome); });
  ASSERT_OK(relay);
  UniqueFd accepted;
  std::string received;
  bool eof = false;
  ASSERT_TRUE(RunUntil(loop, [&] {
    if (!accepted.valid()) {
      accepted.Reset(::accept4(server->fd.get(), nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK));
      return false;
    }
    received += ReadNow(accepted.get(), &eof);
    return eof;
  }));
  EXPECT_EQ(received.size(), sent.size());
  EXPECT_TRUE(received == sent);
}

TEST(ByteRelayTest, AWriteErrorClosesBothSidesAndSaysWhich) {
  ByteRelay::Options options;
  options.target_description = "the PMIx server";
  Harness h(options);
  h.target.Reset();  // the server is gone for good
  ASSERT_TRUE(RunUntil(h.loop, [&] {
    WriteNow(h.client.get(), "request");
    return !h.outcomes.empty();
  }));
  ASSERT_EQ(h.outcomes.size(), 1u);
  EXPECT_TRUE(absl::IsUnavailable(h.outcomes[0])) << h.outcomes[0];
  EXPECT_TRUE(absl::StrContains(h.outcomes[0].message(), "the PMIx server: write failed"))
      << h.outcomes[0];
  bool eof = false;
  ReadNow(h.client.get(), &eof);
  EXPECT_TRUE(eof) << "the client must see that the far side is gone";
}

TEST(ByteRelayTest, ARefusedConnectClosesTheClient) {
  EventLoop loop;
  absl::StatusOr<TcpListener> dead = ListenTcp4("127.0.0.1", 0);
  ASSERT_OK(dead);
  const int port = dead->port;
  dead->fd.Reset();
  absl::StatusOr<UniqueFd> target = StartConnectTcp4("127.0.0.1", port);
  ASSERT_OK(target);
  auto [client_near, client_far] = SocketPair();
  std::vector<absl::Status> outcomes;
  ByteRelay::Options options;
  options.target_description = "the PMIx server at 127.0.0.1";
  absl::StatusOr<std::unique_ptr<ByteRelay>> relay =
      ByteRelay::Start(loop, std::move(client_near), *std::move(target), Stream::State::kConnecting,
                       options, [&](absl::Status outcome) { outcomes.push_back(outcome); });
  ASSERT_OK(relay);
  WriteNow(client_far.get(), "hello");
  ASSERT_TRUE(RunUntil(loop, [&] { return !outcomes.empty(); }));
  EXPECT_EQ(outcomes[0].message(),
            "cannot reach the PMIx server at 127.0.0.1: connect failed (Connection refused)");
  bool eof = false;
  ReadNow(client_far.get(), &eof);
  EXPECT_TRUE(eof);
}

// A toy rewrite: the first message is 4 bytes, sent upper-cased.
ByteRelay::FirstMessageRewrite UpperCaseFirstFour() {
  ByteRelay::FirstMessageRewrite rewrite;
  rewrite.length = [](absl::string_view held) -> absl::StatusOr<std::optional<size_t>> {
    if (!held.empty() && held[0] == '!') return absl::InvalidArgumentError("not a greeting");
    if (held.size() < 2) return std::optional<size_t>();  // length not known yet
    return std::optional<size_t>(4);
  };
  rewrite.rewrite = [](absl::string_view message) -> absl::StatusOr<std::string> {
    std::string out(message);
    for (char& c : out) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    return out;
  };
  return rewrite;
}

TEST(ByteRelayTest, FirstMessageIsHeldUntilCompleteThenRewrittenOnce) {
  ByteRelay::Options options;
  options.rewrite = UpperCaseFirstFour();
  Harness h(options);
  ASSERT_EQ(WriteNow(h.client.get(), "a"), 1u);
  RunFor(h.loop, absl::Milliseconds(20));
  ASSERT_EQ(WriteNow(h.client.get(), "bc"), 2u);
  RunFor(h.loop, absl::Milliseconds(20));
  EXPECT_EQ(ReadNow(h.target.get()), "") << "an incomplete first message was forwarded";
  ASSERT_EQ(WriteNow(h.client.get(), "d-rest"), 6u);
  std::string at_target;
  ASSERT_TRUE(RunUntil(h.loop, [&] {
    at_target += ReadNow(h.target.get());
    return at_target.size() >= 9;
  }));
  ASSERT_EQ(WriteNow(h.client.get(), "-more"), 5u);
  ASSERT_TRUE(RunUntil(h.loop, [&] {
    at_target += ReadNow(h.target.get());
    return at_target.size() >= 14;
  }));
  EXPECT_EQ(at_target, "ABCD-rest-more");
  // Replies pass untouched.
  ASSERT_EQ(WriteNow(h.target.get(), "ok"), 2u);
  std::string at_client;
  ASSERT_TRUE(RunUntil(h.loop, [&] { return (at_client += ReadNow(h.client.get())) == "ok"; }));
}

TEST(ByteRelayTest, ARejectedFirstMessageRefusesTheClient) {
  ByteRelay::Options options;
  options.rewrite = UpperCaseFirstFour();
  Harness h(options);
  ASSERT_EQ(WriteNow(h.client.get(), "!bad"), 4u);
  ASSERT_TRUE(RunUntil(h.loop, [&] { return !h.outcomes.empty(); }));
  EXPECT_TRUE(absl::IsPermissionDenied(h.outcomes[0])) << h.outcomes[0];
  EXPECT_EQ(h.outcomes[0].message(), "refused a client: not a greeting");
  bool eof = false;
  EXPECT_EQ(ReadNow(h.target.get(), &eof), "");
  EXPECT_TRUE(eof) << "the target must not see a refused client";
}

TEST(ByteRelayTest, AnIncompleteFirstMessageIsDroppedAtEndOfStream) {
  ByteRelay::Options options;
  options.rewrite = UpperCaseFirstFour();
  Harness h(options);
  ASSERT_EQ(WriteNow(h.client.get(), "ab"), 2u);
  ::shutdown(h.client.get(), SHUT_WR);
  std::string at_target;
  bool eof = false;
  ASSERT_TRUE(RunUntil(h.loop, [&] {
    at_target += ReadNow(h.target.get(), &eof);
    return eof;
  }));
  EXPECT_EQ(at_target, "");
}

TEST(ByteRelayTest, TapSeesEveryChunkAndEachEndOfStream) {
  std::string client_to_target, target_to_client;
  std::vector<Direction> eofs;
  ByteRelay::Options options;
  options.tap.on_bytes = [&](Direction direction, absl::string_view bytes) {
    (direction == Direction::kClientToTarget ? client_to_target : target_to_client)
        .append(bytes.data(), bytes.size());
  };
  options.tap.on_eof = [&](Direction direction) { eofs.push_back(direction); };
  Harness h(options);
  WriteNow(h.client.get(), "cmd=init\n");
  std::string at_target;
  ASSERT_TRUE(
      RunUntil(h.loop, [&] { return (at_target += ReadNow(h.target.get())) == "cmd=init\n"; }));
  WriteNow(h.target.get(), "cmd=response_to_init\n");
  ::shutdown(h.target.get(), SHUT_WR);
  ::shutdown(h.client.get(), SHUT_WR);
  ASSERT_TRUE(RunUntil(h.loop, [&] { return !h.outcomes.empty(); }));
  EXPECT_EQ(client_to_target, "cmd=init\n");
  EXPECT_EQ(target_to_client, "cmd=response_to_init\n");
  EXPECT_EQ(eofs.size(), 2u);
  EXPECT_EQ(ReadNow(h.client.get()), "cmd=response_to_init\n");
}

TEST(ByteRelayTest, TheTapMayCloseTheRelayWithoutADoneCall) {
  ByteRelay* relay = nullptr;
  ByteRelay::Options options;
  options.tap.on_eof = [&](Direction) { relay->Close(); };
  Harness h(options);
  relay = h.relay.get();
  h.client.Reset();
  RunFor(h.loop, absl::Milliseconds(30));
  EXPECT_TRUE(h.relay->done());
  EXPECT_TRUE(h.outcomes.empty()) << "Close() is the owner's own doing: no report";
  bool eof = false;
  ReadNow(h.target.get(), &eof);
  EXPECT_TRUE(eof);
}

}  // namespace
}  // namespace pmi_shim::net
