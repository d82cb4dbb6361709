#include "common/net/byte_relay.h"

#include <utility>

#include "absl/strings/str_cat.h"

namespace pmi_shim::net {
namespace {

Direction Opposite(Direction direction) {
  return direction == Direction::kClientToTarget ? Direction::kTargetToClient
                                                 : Direction::kClientToTarget;
}

}  // namespace

absl::StatusOr<std::unique_ptr<ByteRelay>> ByteRelay::Start(EventLoop& loop, UniqueFd client,
                                                            UniqueFd target,
                                                            Stream::State target_state,
                                                            Options options, DoneHandler on_done) {
  std::unique_ptr<ByteRelay> relay(new ByteRelay(std::move(options), std::move(on_done)));
  absl::StatusOr<std::unique_ptr<Stream>> client_stream =
      Stream::Start(loop, std::move(client), relay->HandlersFor(Direction::kClientToTarget));
  if (!client_stream.ok()) return client_stream.status();
  relay->client_ = *std::move(client_stream);
  absl::StatusOr<std::unique_ptr<Stream>> target_stream = Stream::Start(
      loop, std::move(target), relay->HandlersFor(Direction::kTargetToClient), target_state);
  if (!target_stream.ok()) return target_stream.status();
  relay->target_ = *std::move(target_stream);
  return relay;
}

ByteRelay::ByteRelay(Options options, DoneHandler on_done)
    : options_(std::move(options)), on_done_(std::move(on_done)) {
  if (options_.target_description.empty()) options_.target_description = "the target";
}

Stream::Handlers ByteRelay::HandlersFor(Direction from) {
  Stream::Handlers handlers;
  handlers.on_data = [this, from](absl::string_view bytes) { OnData(from, bytes); };
  handlers.on_eof = [this, from] { OnEof(from); };
  handlers.on_error = [this, from](const Stream::Error& error) { OnError(from, error); };
  // This stream drained: the direction it receives may read again.
  handlers.on_drained = [this, from] { OnDrained(Opposite(from)); };
  return handlers;
}

void ByteRelay::OnData(Direction direction, absl::string_view bytes) {
  if (options_.tap.on_bytes) options_.tap.on_bytes(direction, bytes);
  if (done_) return;
  if (direction == Direction::kClientToTarget && options_.rewrite.has_value()) {
    HoldFirstMessage(bytes);
  } else {
    Forward(direction, bytes);
  }
}

void ByteRelay::HoldFirstMessage(absl::string_view bytes) {
  held_.append(bytes.data(), bytes.size());
  absl::StatusOr<std::optional<size_t>> length = options_.rewrite->length(held_);
  if (length.ok() && (!length->has_value() || held_.size() < **length)) return;
  absl::StatusOr<std::string> rewritten =
      length.ok() ? options_.rewrite->rewrite(absl::string_view(held_).substr(0, **length))
                  : absl::StatusOr<std::string>(length.status());
  if (!rewritten.ok()) {
    Finish(absl::PermissionDeniedError(
        absl::StrCat("refused a client: ", rewritten.status().message())));
    return;
  }
  const std::string rest = held_.substr(**length);
  held_.clear();
  options_.rewrite.reset();  // the rest of the stream passes untouched
  Forward(Direction::kClientToTarget, *rewritten + rest);
}

void ByteRelay::Forward(Direction direction, absl::string_view bytes) {
  Stream& sink = Sink(direction);
  sink.Write(bytes);
  if (done_) return;
  if (sink.pending_bytes() >= options_.max_buffered_bytes) Source(direction).PauseReading();
}

void ByteRelay::OnDrained(Direction direction) {
  Source(direction).ResumeReading();
  FinishIfBothEnded();
}

void ByteRelay::OnEof(Direction direction) {
  if (options_.tap.on_eof) options_.tap.on_eof(direction);
  if (done_) return;
  if (direction == Direction::kClientToTarget && options_.rewrite.has_value()) {
    held_.clear();  // an incomplete first message is never sent
    options_.rewrite.reset();
  }
  Sink(direction).ShutdownWrite();
  if (done_) return;
  FinishIfBothEnded();
}

void ByteRelay::OnError(Direction from, const Stream::Error& error) {
  if (error.operation == Stream::Error::Operation::kConnect) {
    Finish(absl::UnavailableError(
        absl::StrCat("cannot reach ", options_.target_description, ": ", error.Describe())));
    return;
  }
  const std::string side =
      from == Direction::kClientToTarget ? "client" : options_.target_description;
  Finish(absl::UnavailableError(absl::StrCat(side, ": ", error.Describe())));
}

void ByteRelay::FinishIfBothEnded() {
  if (client_->eof() && target_->eof() && client_->write_shut() && target_->write_shut()) {
    Finish(absl::OkStatus());
  }
}

void ByteRelay::Finish(absl::Status outcome) {
  if (done_) return;
  Close();
  if (on_done_) on_done_(std::move(outcome));
}

void ByteRelay::Close() {
  done_ = true;
  if (client_) client_->Close();
  if (target_) target_->Close();
}

}  // namespace pmi_shim::net
