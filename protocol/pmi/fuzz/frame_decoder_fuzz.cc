// Fuzz target for FrameDecoder: the input is a byte stream from a peer.
// Invariants: decoding never crashes; the frames, whether an error stops the
// stream, and the bytes left over do not depend on how the stream was cut
// into Feed() calls (all at once, two chunks, one byte at a time); no frame
// exceeds the limit (ResourceExhausted); each frame parses or fails with
// InvalidArgument; a
// parsed message, formatted again, decodes as one frame of the same framing.
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "protocol/pmi/frame_decoder.h"
#include "protocol/pmi/message.h"
#include "protocol/pmi/pmi1.h"
#include "protocol/pmi/pmi2.h"
#include "tools/build/fuzz_check.h"

namespace {

using pmi_shim::wire::FormatPmi1;
using pmi_shim::wire::FormatPmi2;
using pmi_shim::wire::Frame;
using pmi_shim::wire::FrameDecoder;
using pmi_shim::wire::FrameLimits;
using pmi_shim::wire::Framing;
using pmi_shim::wire::Message;
using pmi_shim::wire::ParseFrame;

struct Outcome {
  std::vector<Frame> frames;
  bool failed = false;
  size_t leftover = 0;
};

bool operator==(const Outcome& a, const Outcome& b) {
  if (a.failed != b.failed || a.frames.size() != b.frames.size()) return false;
  // After an error the decoder drops input, so leftovers only count without.
  if (!a.failed && a.leftover != b.leftover) return false;
  for (size_t i = 0; i < a.frames.size(); ++i) {
    const Frame& x = a.frames[i];
    const Frame& y = b.frames[i];
    if (x.framing != y.framing || x.payload != y.payload || x.is_spawn_block != y.is_spawn_block) {
      return false;
    }
  }
  return true;
}

// Drains every complete frame; true once the decoder reported an error.
bool Drain(FrameDecoder& decoder, Outcome& out) {
  while (true) {
    absl::StatusOr<std::optional<Frame>> frame = decoder.Next();
    if (!frame.ok()) {
      FUZZ_CHECK(frame.status().code() == absl::StatusCode::kInvalidArgument ||
                 frame.status().code() == absl::StatusCode::kResourceExhausted);  // too long
      FUZZ_CHECK(!decoder.Next().ok());  // errors are sticky
      return true;
    }
    if (!frame->has_value()) return false;
    out.frames.push_back(**std::move(frame));
  }
}

Outcome Decode(absl::string_view stream, size_t chunk, FrameLimits limits) {
  FrameDecoder decoder(limits);
  Outcome out;
  for (size_t at = 0; at < stream.size() && !out.failed; at += chunk) {
    decoder.Feed(stream.substr(at, chunk));
    out.failed = Drain(decoder, out);
  }
  out.leftover = decoder.buffered_bytes();
  return out;
}

Outcome DecodeInTwo(absl::string_view stream, size_t cut, FrameLimits limits) {
  FrameDecoder decoder(limits);
  Outcome out;
  decoder.Feed(stream.substr(0, cut));
  out.failed = Drain(decoder, out);
  if (!out.failed) {
    decoder.Feed(stream.substr(cut));
    out.failed = Drain(decoder, out);
  }
  out.leftover = decoder.buffered_bytes();
  return out;
}

// Re-encodes a parsed single-line or record message and decodes it again.
void CheckReencoding(const Frame& frame, const Message& m, FrameLimits limits) {
  if (frame.is_spawn_block) return;
  std::string bytes;
  if (frame.framing == Framing::kPmi2Record) {
    for (const auto& [key, value] : m.fields) {
      if (key.find(';') != std::string::npos || value.find(';') != std::string::npos) return;
    }
    if (m.command.find(';') != std::string::npos) return;
    bytes = FormatPmi2(m);
  } else {
    bytes = FormatPmi1(m);
  }
  limits.max_frame_bytes = bytes.size();
  Outcome again = Decode(bytes, bytes.size(), limits);
  FUZZ_CHECK(!again.failed && again.frames.size() == 1 && again.leftover == 0);
  FUZZ_CHECK(again.frames[0].framing == frame.framing);
  absl::StatusOr<Message> reparsed = ParseFrame(again.frames[0]);
  FUZZ_CHECK(reparsed.ok() && reparsed->command == m.command);
}

void CheckStream(absl::string_view stream, FrameLimits limits, size_t cut) {
  const Outcome whole = Decode(stream, stream.size() + 1, limits);
  FUZZ_CHECK(DecodeInTwo(stream, cut, limits) == whole);
  if (stream.size() <= 4096) FUZZ_CHECK(Decode(stream, 1, limits) == whole);
  for (const Frame& frame : whole.frames) {
    FUZZ_CHECK(frame.payload.size() <= limits.max_frame_bytes);
    absl::StatusOr<Message> m = ParseFrame(frame);
    if (!m.ok()) {
      FUZZ_CHECK(m.status().code() == absl::StatusCode::kInvalidArgument);
      continue;
    }
    CheckReencoding(frame, *m, limits);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const absl::string_view stream(reinterpret_cast<const char*>(data), size);
  // The last byte picks where to cut; the first byte a small limit so that
  // the limit checks get exercised too.
  const size_t cut = size == 0 ? 0 : size * data[size - 1] / 256;
  CheckStream(stream, FrameLimits{}, cut);
  const size_t small_limit = 8 + (size == 0 ? 0 : data[0] % 120);
  CheckStream(stream, FrameLimits{small_limit}, cut);
  return 0;
}
