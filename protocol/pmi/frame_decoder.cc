// FrameDecoder: per-frame choice between PMI-1 lines, `mcmd=` blocks and
// PMI-2 length-prefixed records, with incremental scanning.
#include "protocol/pmi/frame_decoder.h"

#include <utility>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "protocol/pmi/pmi1.h"
#include "protocol/pmi/pmi2.h"
#include "protocol/pmi/text_util.h"

namespace pmi_shim::wire {
namespace {

constexpr absl::string_view kLineStart = "cmd=";
constexpr absl::string_view kBlockStart = "mcmd=";

// True while `rest` is too short to tell a PMI-1 start from a length field
// but could still grow into `cmd=` or `mcmd=`.
bool CouldBecomeLineStart(absl::string_view rest) {
  return (rest.size() < kLineStart.size() && absl::StartsWith(kLineStart, rest)) ||
         (rest.size() < kBlockStart.size() && absl::StartsWith(kBlockStart, rest));
}

// ResourceExhausted tells "too long" apart from "malformed" for the caller.
absl::Status TooLong(absl::string_view what, size_t limit) {
  return absl::ResourceExhaustedError(
      absl::StrCat(what, " is longer than the ", limit, "-byte frame limit"));
}

absl::Status NeitherFraming(absl::string_view start) {
  return absl::InvalidArgumentError(
      absl::StrCat("frame starts with ", internal::Quote(start),
                   ", which is neither cmd=/mcmd= nor a PMI-2 length field"));
}

}  // namespace

void FrameDecoder::Feed(absl::string_view bytes) {
  if (!error_.ok()) return;
  // Dropping consumed bytes only once they are at least half the buffer keeps
  // the total copying linear in the bytes fed, however small the frames.
  if (consumed_ > 0 && consumed_ >= buffer_.size() / 2) {
    buffer_.erase(0, consumed_);
    consumed_ = 0;
  }
  buffer_.append(bytes.data(), bytes.size());
}

absl::StatusOr<std::optional<Frame>> FrameDecoder::Next() {
  if (!error_.ok()) return error_;
  absl::StatusOr<std::optional<Frame>> frame = Decode();
  if (!frame.ok()) error_ = frame.status();
  return frame;
}

absl::StatusOr<std::optional<Frame>> FrameDecoder::Decode() {
  const absl::string_view rest = absl::string_view(buffer_).substr(consumed_);
  if (pending_.kind == Kind::kUndecided) {
    if (rest.empty() || CouldBecomeLineStart(rest)) return std::nullopt;
    // Like Hydra: `cmd=` opens a line, anything else a PMI-2 length field.
    if (absl::StartsWith(rest, kLineStart)) {
      pending_.kind = Kind::kLine;
    } else if (absl::StartsWith(rest, kBlockStart)) {
      pending_.kind = Kind::kSpawnBlock;
    } else {
      pending_.kind = Kind::kRecord;
    }
  }
  if (pending_.kind == Kind::kLine) return DecodeLine(rest);
  if (pending_.kind == Kind::kSpawnBlock) return DecodeSpawnBlock(rest);
  return DecodeRecord(rest);
}

absl::StatusOr<std::optional<Frame>> FrameDecoder::DecodeLine(absl::string_view rest) {
  const size_t newline = rest.find('\n', pending_.scanned);
  if (newline == absl::string_view::npos) {
    if (rest.size() > limits_.max_frame_bytes) {
      return TooLong("PMI-1 line", limits_.max_frame_bytes);
    }
    pending_.scanned = rest.size();
    return std::nullopt;
  }
  if (newline > limits_.max_frame_bytes) return TooLong("PMI-1 line", limits_.max_frame_bytes);
  return Take(Framing::kPmi1Line, 0, newline, newline + 1);
}

absl::StatusOr<std::optional<Frame>> FrameDecoder::DecodeSpawnBlock(absl::string_view rest) {
  while (true) {
    const size_t line_start = pending_.scanned;
    const size_t newline = rest.find('\n', line_start);
    if (newline == absl::string_view::npos) {
      // The block's final '\n' is still to come, so it is longer than `rest`.
      if (rest.size() >= limits_.max_frame_bytes) {
        return TooLong("PMI-1 mcmd= block", limits_.max_frame_bytes);
      }
      return std::nullopt;
    }
    if (newline + 1 > limits_.max_frame_bytes) {
      return TooLong("PMI-1 mcmd= block", limits_.max_frame_bytes);
    }
    pending_.scanned = newline + 1;
    absl::string_view line = rest.substr(line_start, newline - line_start);
    absl::ConsumeSuffix(&line, "\r");
    if (line != "endcmd") {
      NoteSpawnLine(line);
      continue;
    }
    if (SegmentEndsBlock()) {
      Frame frame = Take(Framing::kPmi1Line, 0, newline + 1, newline + 1);
      frame.is_spawn_block = true;
      return frame;
    }
    pending_.totspawns = {};
    pending_.spawnssofar = {};
  }
}

void FrameDecoder::NoteSpawnLine(absl::string_view line) {
  SegmentCount* count = nullptr;
  if (absl::ConsumePrefix(&line, "totspawns=")) {
    count = &pending_.totspawns;
  } else if (absl::ConsumePrefix(&line, "spawnssofar=")) {
    count = &pending_.spawnssofar;
  }
  if (count == nullptr || count->seen) return;
  count->seen = true;
  int64_t value = 0;
  if (absl::SimpleAtoi(line, &value)) count->value = value;
}

bool FrameDecoder::SegmentEndsBlock() const {
  // MPICH answers once, after the segment with spawnssofar == totspawns. A
  // segment without usable numbers cannot be matched, so, as Flux does, its
  // endcmd ends the request; a count past the total would otherwise leave the
  // decoder waiting for a segment that never comes.
  const std::optional<int64_t>& total = pending_.totspawns.value;
  const std::optional<int64_t>& so_far = pending_.spawnssofar.value;
  return !total.has_value() || !so_far.has_value() || *so_far >= *total;
}

absl::StatusOr<std::optional<Frame>> FrameDecoder::DecodeRecord(absl::string_view rest) {
  if (rest.size() < kPmi2LengthFieldSize) {
    // Fail early on bytes that can never form a length field (a peer that
    // sends, say, " cmd=init\n" would otherwise wait here forever).
    for (char c : rest) {
      if (c != ' ' && !absl::ascii_isdigit(static_cast<unsigned char>(c)))
        return NeitherFraming(rest);
    }
    return std::nullopt;
  }
  absl::StatusOr<size_t> length = ParsePmi2Length(rest.substr(0, kPmi2LengthFieldSize));
  if (!length.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(
        length.status().message(), "; the frame is neither cmd=/mcmd= nor a PMI-2 record"));
  }
  if (*length > limits_.max_frame_bytes) {
    return TooLong(absl::StrCat("PMI-2 record of ", *length, " bytes"), limits_.max_frame_bytes);
  }
  if (rest.size() - kPmi2LengthFieldSize < *length) return std::nullopt;
  return Take(Framing::kPmi2Record, kPmi2LengthFieldSize, *length, kPmi2LengthFieldSize + *length);
}

Frame FrameDecoder::Take(Framing framing, size_t payload_offset, size_t payload_size,
                         size_t frame_size) {
  Frame frame;
  frame.framing = framing;
  frame.payload = buffer_.substr(consumed_ + payload_offset, payload_size);
  consumed_ += frame_size;
  pending_ = Pending();
  if (consumed_ == buffer_.size()) {
    buffer_.clear();
    consumed_ = 0;
  }
  return frame;
}

absl::StatusOr<Message> ParseFrame(const Frame& frame) {
  if (frame.framing == Framing::kPmi2Record) return ParsePmi2Payload(frame.payload);
  if (frame.is_spawn_block) return ParsePmi1Spawn(frame.payload);
  return ParsePmi1Line(frame.payload);
}

}  // namespace pmi_shim::wire
