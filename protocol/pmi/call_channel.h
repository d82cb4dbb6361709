// CallChannel: blocking PMI request/reply over a connected socket, for the
// exchanges that run before or without an event loop: pmi-bridge's
// handshake with the host server (the job's facts must be known before its
// own server starts) and `pmi-shim-client check`.
//
//   CallChannel channel(fd, {.peer = {"the PMI server"}, .reply_timeout = absl::Seconds(5)});
//   ASSIGN_OR_RETURN(wire::Message init, channel.Init(wire::PmiVersion::kPmi1));
//   ASSIGN_OR_RETURN(wire::Message maxes,
//                    channel.Call(wire::Message("get_maxes"), wire::Framing::kPmi1Line));
//
// The socket may be blocking or not (a non-blocking one waits in poll());
// the channel does not own it. Replies are checked against the command
// table (commands.h); rc is left to the caller, since what a refusal means
// depends on the request. Errors are one line naming the peer and the
// request; `Peer` adds the caller's advice.
#ifndef PMI_SHIM_PROTOCOL_PMI_CALL_CHANNEL_H_
#define PMI_SHIM_PROTOCOL_PMI_CALL_CHANNEL_H_

#include <cstddef>
#include <functional>
#include <optional>
#include <string>
#include <utility>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "protocol/pmi/commands.h"
#include "protocol/pmi/frame_decoder.h"
#include "protocol/pmi/message.h"

namespace pmi_shim::wire {

class CallChannel {
 public:
  // How errors name the server, and what they advise (each may be empty,
  // else starts with "; ").
  struct Peer {
    std::string name = "the PMI server";  // "host PMI server at PMI_FD=6"
    std::string if_silent;                // after "did not answer X in time"
    std::string if_closed;                // after "closed the connection during X"
    std::string if_unexpected;            // after "answered X with ... instead of cmd=Y"
  };
  // Every message to (true) and from (false) the peer.
  using TraceFn = std::function<void(bool to_peer, const Message& message)>;

  struct Options {
    Peer peer;
    absl::Time deadline = absl::InfiniteFuture();             // the whole exchange ends by then
    absl::Duration reply_timeout = absl::InfiniteDuration();  // each reply, from its request
    TraceFn trace;
  };

  CallChannel(int fd, Options options) : fd_(fd), options_(std::move(options)) {}

  // Writes `message` in `framing`.
  absl::Status Send(const Message& message, Framing framing);

  // The next message, which must be `expected`; `context` names the request
  // it answers. DeadlineExceeded when it does not come in time.
  absl::StatusOr<Message> Receive(absl::string_view expected, absl::string_view context);

  // Send, then Receive the reply the command table names for the request.
  absl::StatusOr<Message> Call(const Message& request, Framing framing);

  // The first exchange of either version: `cmd=init pmi_version=V
  // pmi_subversion=S` (1.1 or 2.0; PMI-2 too sends it as a PMI-1 line, and
  // Slurm parses exactly this spelling) and its response_to_init.
  absl::StatusOr<Message> Init(PmiVersion version);

  // Bytes received beyond the last message: a peer that sent more than it
  // was asked for.
  size_t buffered_bytes() const { return decoder_.buffered_bytes(); }

  const Peer& peer() const { return options_.peer; }

 private:
  absl::StatusOr<std::optional<Message>> NextMessage(absl::string_view context);
  absl::Status ReadMore(absl::string_view context);

  int fd_;
  Options options_;
  FrameDecoder decoder_;
  absl::Time reply_deadline_ = absl::InfiniteFuture();
};

// `message` for an error line: one line, at most 160 characters and "...".
std::string Excerpt(const Message& message);

}  // namespace pmi_shim::wire

#endif  // PMI_SHIM_PROTOCOL_PMI_CALL_CHANNEL_H_
