// Stream over socketpairs and loopback TCP: data and end-of-stream in
// order, an outbox that survives a full socket, half-close after the
// outbox, pausing, every error path, connecting, and handlers that destroy
// the stream.
#include "common/net/stream.h"

#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cerrno>
#include <memory>
#include <string>

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

// A stream on one end of a socketpair, recording what its handlers saw.
struct Recorded {
  std::string data;
  int eofs = 0;
  int drained = 0;
  int connected = 0;
  std::optional<Stream::Error> error;
  Stream::Handlers Handlers() {
    Stream::Handlers handlers;
    handlers.on_data = [this](absl::string_view bytes) { data.append(bytes.data(), bytes.size()); };
    handlers.on_eof = [this] { ++eofs; };
    handlers.on_error = [this](const Stream::Error& e) { error = e; };
    handlers.on_drained = [this] { ++drained; };
    handlers.on_connected = [this] { ++connected; };
    return handlers;
  }
};

std::unique_ptr<Stream> StartOrDie(EventLoop& loop, UniqueFd fd, Stream::Handlers handlers,
                                   Stream::State state = Stream::State::kConnected) {
  absl::StatusOr<std::unique_ptr<Stream>> stream =
      Stream::Start(loop, std::move(fd), std::move(handlers), state);
  EXPECT_OK(stream);
  return stream.ok() ? *std::move(stream) : nullptr;
}

TEST(StreamTest, DeliversBytesThenEndOfStreamAndStillWritesAfterIt) {
  EventLoop loop;
  auto [mine, peer] = SocketPair();
  Recorded seen;
  std::unique_ptr<Stream> stream = StartOrDie(loop, std::move(mine), seen.Handlers());
  ASSERT_EQ(WriteNow(peer.get(), "hello "), 6u);
  ASSERT_EQ(WriteNow(peer.get(), "world"), 5u);
  ::shutdown(peer.get(), SHUT_WR);
  ASSERT_TRUE(RunUntil(loop, [&] { return seen.eofs > 0; }));
  EXPECT_EQ(seen.data, "hello world");
  EXPECT_EQ(seen.eofs, 1);
  EXPECT_TRUE(stream->eof());
  EXPECT_TRUE(stream->open()) << "end-of-stream is a half-close, not an error";
  stream->Write("answer");
  EXPECT_EQ(ReadNow(peer.get()), "answer");
  RunFor(loop, absl::Milliseconds(30));
  EXPECT_EQ(seen.eofs, 1) << "end-of-stream is reported once";
  EXPECT_FALSE(seen.error.has_value());
}

TEST(StreamTest, AWriteToAnIdleStreamLeavesAtOnce) {
  EventLoop loop;
  auto [mine, peer] = SocketPair();
  Recorded seen;
  std::unique_ptr<Stream> stream = StartOrDie(loop, std::move(mine), seen.Handlers());
  stream->Write("cmd=init pmi_version=1 pmi_subversion=1\n");
  EXPECT_EQ(stream->pending_bytes(), 0u);
  // Without running the loop: the bytes were sent by Write itself.
  EXPECT_EQ(ReadNow(peer.get()), "cmd=init pmi_version=1 pmi_subversion=1\n");
}

TEST(StreamTest, OutboxHoldsWhatAFullSocketRefusesAndDrainsInOrder) {
  EventLoop loop;
  auto [mine, peer] = SocketPair();
  ShrinkBuffers(mine.get());
  ShrinkBuffers(peer.get());
  Recorded seen;
  std::unique_ptr<Stream> stream = StartOrDie(loop, std::move(mine), seen.Handlers());
  const std::string sent = Pattern(2 << 20);
  stream->Write(sent.substr(0, 1 << 20));
  stream->Write(sent.substr(1 << 20));
  EXPECT_GT(stream->pending_bytes(), 0u) << "a 4 KiB socket took 2 MiB at once?";
  std::string received;
  ASSERT_TRUE(RunUntil(loop, [&] {
    received += ReadNow(peer.get());
    return received.size() == sent.size();
  }));
  EXPECT_TRUE(received == sent) << "bytes lost or reordered";
  EXPECT_EQ(stream->pending_bytes(), 0u);
  EXPECT_GE(seen.drained, 1);
}

TEST(StreamTest, ShutdownWriteWaitsUntilTheOutboxIsFlushed) {
  EventLoop loop;
  auto [mine, peer] = SocketPair();
  ShrinkBuffers(mine.get());
  ShrinkBuffers(peer.get());
  Recorded seen;
  std::unique_ptr<Stream> stream = StartOrDie(loop, std::move(mine), seen.Handlers());
  const std::string sent = Pattern(256 * 1024);
  stream->Write(sent);
  stream->ShutdownWrite();
  EXPECT_FALSE(stream->write_shut()) << "shut down with bytes still queued";
  stream->Write("late");  // after ShutdownWrite: dropped
  std::string received;
  bool eof = false;
  ASSERT_TRUE(RunUntil(loop, [&] {
    received += ReadNow(peer.get(), &eof);
    return eof;
  }));
  EXPECT_TRUE(received == sent);
  EXPECT_TRUE(stream->write_shut());
  // Half-closed only: the peer may still answer.
  ASSERT_EQ(WriteNow(peer.get(), "reply"), 5u);
  ASSERT_TRUE(RunUntil(loop, [&] { return seen.data == "reply"; }));
}

TEST(StreamTest, PausedStreamReadsNothingUntilResumed) {
  EventLoop loop;
  auto [mine, peer] = SocketPair();
  Recorded seen;
  std::unique_ptr<Stream> stream = StartOrDie(loop, std::move(mine), seen.Handlers());
  stream->PauseReading();
  ASSERT_EQ(WriteNow(peer.get(), "held"), 4u);
  ::shutdown(peer.get(), SHUT_WR);
  RunFor(loop, absl::Milliseconds(50));
  EXPECT_EQ(seen.data, "");
  EXPECT_EQ(seen.eofs, 0);
  stream->ResumeReading();
  ASSERT_TRUE(RunUntil(loop, [&] { return seen.eofs == 1; }));
  EXPECT_EQ(seen.data, "held");
}

TEST(StreamTest, ReadAvailableHearsThePeerOutWithoutTheLoop) {
  EventLoop loop;
  auto [mine, peer] = SocketPair();
  Recorded seen;
  std::unique_ptr<Stream> stream = StartOrDie(loop, std::move(mine), seen.Handlers());
  ASSERT_EQ(WriteNow(peer.get(), "last words"), 10u);
  peer.Reset();
  stream->ReadAvailable();
  EXPECT_EQ(seen.data, "last words");
  EXPECT_EQ(seen.eofs, 1);
}

TEST(StreamTest, WriteToAClosedPeerFailsAndClosesTheStream) {
  EventLoop loop;
  auto [mine, peer] = SocketPair();
  Recorded seen;
  std::unique_ptr<Stream> stream = StartOrDie(loop, std::move(mine), seen.Handlers());
  peer.Reset();
  stream->Write("nobody listens");
  ASSERT_TRUE(seen.error.has_value()) << "the failure must be reported from Write";
  EXPECT_EQ(seen.error->operation, Stream::Error::Operation::kWrite);
  EXPECT_EQ(seen.error->error_number, EPIPE);
  EXPECT_EQ(seen.error->Describe(), "write failed (Broken pipe)");
  EXPECT_FALSE(stream->open());
  stream->Write("again");  // closed: ignored, no second report
  RunFor(loop, absl::Milliseconds(20));
  EXPECT_EQ(seen.eofs, 0);
}

// A TCP pair on loopback: (accepted, connected).
std::pair<UniqueFd, UniqueFd> TcpPair() {
  absl::StatusOr<TcpListener> listener = ListenTcp4("127.0.0.1", 0);
  EXPECT_OK(listener);
  absl::StatusOr<UniqueFd> connected = StartConnectTcp4("127.0.0.1", listener->port);
  EXPECT_OK(connected);
  UniqueFd accepted;
  for (int i = 0; i < 1000 && !accepted.valid(); ++i) {
    accepted.Reset(::accept4(listener->fd.get(), nullptr, nullptr, SOCK_CLOEXEC));
    if (!accepted.valid()) ::usleep(1000);
  }
  EXPECT_TRUE(accepted.valid());
  return {std::move(accepted), *std::move(connected)};
}

TEST(StreamTest, AResetIsAReadError) {
  EventLoop loop;
  auto [mine, peer] = TcpPair();
  Recorded seen;
  std::unique_ptr<Stream> stream = StartOrDie(loop, std::move(mine), seen.Handlers());
  const linger abortive{1, 0};  // close() sends RST
  ASSERT_EQ(::setsockopt(peer.get(), SOL_SOCKET, SO_LINGER, &abortive, sizeof(abortive)), 0);
  peer.Reset();
  ASSERT_TRUE(RunUntil(loop, [&] { return seen.error.has_value(); }));
  EXPECT_EQ(seen.error->operation, Stream::Error::Operation::kRead);
  EXPECT_EQ(seen.error->error_number, ECONNRESET);
  EXPECT_FALSE(stream->open());
}

TEST(StreamTest, AResetWhilePausedIsStillReported) {
  EventLoop loop;
  auto [mine, peer] = TcpPair();
  Recorded seen;
  std::unique_ptr<Stream> stream = StartOrDie(loop, std::move(mine), seen.Handlers());
  stream->PauseReading();
  stream->ShutdownWrite();  // nothing wanted at all now
  const linger abortive{1, 0};
  ASSERT_EQ(::setsockopt(peer.get(), SOL_SOCKET, SO_LINGER, &abortive, sizeof(abortive)), 0);
  peer.Reset();
  ASSERT_TRUE(RunUntil(loop, [&] { return seen.error.has_value(); }));
  EXPECT_EQ(seen.error->error_number, ECONNRESET);
}

TEST(StreamTest, ConnectingStreamQueuesWritesUntilConnected) {
  EventLoop loop;
  absl::StatusOr<TcpListener> listener = ListenTcp4("127.0.0.1", 0);
  ASSERT_OK(listener);
  absl::StatusOr<UniqueFd> fd = StartConnectTcp4("127.0.0.1", listener->port);
  ASSERT_OK(fd);
  Recorded seen;
  std::unique_ptr<Stream> stream =
      StartOrDie(loop, *std::move(fd), seen.Handlers(), Stream::State::kConnecting);
  EXPECT_FALSE(stream->connected());
  stream->Write("queued");
  stream->ShutdownWrite();
  ASSERT_TRUE(RunUntil(loop, [&] { return seen.connected == 1; }));
  EXPECT_EQ(seen.drained, 1) << "a writer paused for the queued bytes is never resumed";
  UniqueFd accepted(::accept4(listener->fd.get(), nullptr, nullptr, SOCK_CLOEXEC));
  ASSERT_TRUE(accepted.valid());
  std::string received;
  bool eof = false;
  ASSERT_TRUE(RunUntil(loop, [&] {
    received += ReadNow(accepted.get(), &eof);
    return eof;
  }));
  EXPECT_EQ(received, "queued");
}

TEST(StreamTest, RefusedConnectIsAConnectError) {
  EventLoop loop;
  absl::StatusOr<TcpListener> listener = ListenTcp4("127.0.0.1", 0);
  ASSERT_OK(listener);
  const int port = listener->port;
  listener->fd.Reset();  // nothing listens there any more
  absl::StatusOr<UniqueFd> fd = StartConnectTcp4("127.0.0.1", port);
  ASSERT_OK(fd);
  Recorded seen;
  std::unique_ptr<Stream> stream =
      StartOrDie(loop, *std::move(fd), seen.Handlers(), Stream::State::kConnecting);
  stream->Write("never sent");
  ASSERT_TRUE(RunUntil(loop, [&] { return seen.error.has_value(); }));
  EXPECT_EQ(seen.error->operation, Stream::Error::Operation::kConnect);
  EXPECT_EQ(seen.error->error_number, ECONNREFUSED);
  EXPECT_EQ(seen.connected, 0);
}

TEST(StreamTest, AHandlerMayDestroyItsStream) {
  EventLoop loop;
  auto [mine, peer] = SocketPair();
  std::unique_ptr<Stream> stream;
  int calls = 0;
  Stream::Handlers handlers;
  handlers.on_data = [&](absl::string_view) {
    ++calls;
    stream.reset();  // the owner is done with it, from inside the handler
  };
  stream = StartOrDie(loop, std::move(mine), handlers);
  ASSERT_EQ(WriteNow(peer.get(), std::string(200 * 1024, 'x')), 200u * 1024);
  RunFor(loop, absl::Milliseconds(30));
  EXPECT_EQ(calls, 1);
  bool eof = false;
  ReadNow(peer.get(), &eof);
  EXPECT_TRUE(eof) << "destroying the stream closes its fd";
}

TEST(StreamTest, CloseStopsEveryHandler) {
  EventLoop loop;
  auto [mine, peer] = SocketPair();
  Recorded seen;
  std::unique_ptr<Stream> stream = StartOrDie(loop, std::move(mine), seen.Handlers());
  stream->Close();
  WriteNow(peer.get(), "ignored");
  RunFor(loop, absl::Milliseconds(20));
  EXPECT_EQ(seen.data, "");
  EXPECT_FALSE(seen.error.has_value());
  EXPECT_EQ(stream->fd(), -1);
}

TEST(StreamTest, HungUpPeerStillTakesAnErrorOnTheNextWrite) {
  EventLoop loop;
  auto [mine, peer] = SocketPair();
  Recorded seen;
  std::unique_ptr<Stream> stream = StartOrDie(loop, std::move(mine), seen.Handlers());
  peer.Reset();  // EOF and EPOLLHUP: the stream stops watching, stays open
  ASSERT_TRUE(RunUntil(loop, [&] { return seen.eofs == 1; }));
  RunFor(loop, absl::Milliseconds(20));
  EXPECT_TRUE(stream->open());
  stream->Write("too late");
  ASSERT_TRUE(seen.error.has_value());
  EXPECT_EQ(seen.error->error_number, EPIPE);
}

}  // namespace
}  // namespace pmi_shim::net
