// ByteRelay: pipes one client connection to one target connection, byte for
// byte, in both directions, on the EventLoop.
//
// Each direction has a bounded buffer: when the far side does not drain,
// the relay stops reading from the near side (backpressure), so a stalled
// peer cannot make it grow without limit. When one side sends end-of-stream,
// the other gets the rest of the bytes and then a half-close; the relay is
// done when both directions ended. A reset or error on either side closes
// both.
//
// Two optional seams:
//  - rewrite: the client's first message is held until complete and sent
//    to the target in a rewritten form (the PMIx connect message with the
//    client's kernel identity, bridge/downstream/pmix_handshake.h); the rest
//    of the stream passes untouched. A message the rewriter rejects closes
//    the relay.
//  - tap: sees every chunk as read, before it is forwarded (so a server that
//    kills the job on a bad message cannot cut a trace short), and each
//    end-of-stream (`pmi-bridge trace`).
//
// The owner gets `on_done` once, with OK for an orderly end or one line of
// why, and then frees the relay outside its handlers (RetireQueue).
#ifndef PMI_SHIM_COMMON_NET_BYTE_RELAY_H_
#define PMI_SHIM_COMMON_NET_BYTE_RELAY_H_

#include <cstddef>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "common/event_loop.h"
#include "common/net/stream.h"
#include "common/unique_fd.h"

namespace pmi_shim::net {

enum class Direction { kClientToTarget, kTargetToClient };

class ByteRelay {
 public:
  struct FirstMessageRewrite {
    // The length of the first message at the start of `held`, or nullopt
    // while more bytes are needed. An error refuses the client.
    std::function<absl::StatusOr<std::optional<size_t>>(absl::string_view held)> length;
    // What to send instead of `message` (exactly `length` bytes).
    std::function<absl::StatusOr<std::string>(absl::string_view message)> rewrite;
  };

  struct Tap {
    std::function<void(Direction direction, absl::string_view bytes)> on_bytes;
    std::function<void(Direction direction)> on_eof;
  };

  struct Options {
    size_t max_buffered_bytes = 1 << 20;  // per direction
    // The target in messages: "the PMIx server at 127.0.0.1:5000" (empty:
    // "the target"; a RelayServer puts its connector's description).
    std::string target_description;
    std::optional<FirstMessageRewrite> rewrite;
    Tap tap;
  };

  using DoneHandler = std::function<void(absl::Status outcome)>;

  // Relays between `client` (connected) and `target` (connected, or with
  // its connect under way when `target_state` is kConnecting). Owns both
  // fds from the call on, also on failure.
  static absl::StatusOr<std::unique_ptr<ByteRelay>> Start(EventLoop& loop, UniqueFd client,
                                                          UniqueFd target,
                                                          Stream::State target_state,
                                                          Options options, DoneHandler on_done);
  ~ByteRelay() = default;
  ByteRelay(const ByteRelay&) = delete;
  ByteRelay& operator=(const ByteRelay&) = delete;

  // Closes both sides now, without calling on_done. Safe from a tap.
  void Close();

  bool done() const { return done_; }

 private:
  ByteRelay(Options options, DoneHandler on_done);

  Stream::Handlers HandlersFor(Direction from);
  Stream& Source(Direction direction) {
    return direction == Direction::kClientToTarget ? *client_ : *target_;
  }
  Stream& Sink(Direction direction) {
    return direction == Direction::kClientToTarget ? *target_ : *client_;
  }
  void OnData(Direction direction, absl::string_view bytes);
  // Holds the client's first bytes until the rewriter has a whole message.
  void HoldFirstMessage(absl::string_view bytes);
  void Forward(Direction direction, absl::string_view bytes);
  void OnEof(Direction direction);
  // The sink of `direction` drained: its source may read again.
  void OnDrained(Direction direction);
  void OnError(Direction from, const Stream::Error& error);
  void FinishIfBothEnded();
  void Finish(absl::Status outcome);

  Options options_;
  DoneHandler on_done_;
  std::unique_ptr<Stream> client_;
  std::unique_ptr<Stream> target_;
  std::string held_;  // the client's first message, until complete
  bool done_ = false;
};

}  // namespace pmi_shim::net

#endif  // PMI_SHIM_COMMON_NET_BYTE_RELAY_H_
