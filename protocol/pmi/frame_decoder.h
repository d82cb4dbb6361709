// FrameDecoder: cuts PMI-1 lines and PMI-2 records out of a byte stream.
//
// One connection may carry both framings: a PMI-2 client starts with the
// PMI-1-framed `cmd=init pmi_version=2` line and then switches to length-
// prefixed records. Like Hydra, the decoder decides per frame: bytes starting
// with `cmd=` (or `mcmd=`) are a PMI-1 line, anything else is a PMI-2 length
// field. That needs no state shared with the session and copes with peers
// that mix them.
//
//   FrameDecoder decoder;
//   decoder.Feed(bytes_just_read);
//   while (true) {
//     absl::StatusOr<std::optional<Frame>> frame = decoder.Next();
//     if (!frame.ok()) { /* stream is corrupt: report and close */ }
//     if (!frame->has_value()) break;  // need more bytes
//     Handle(**frame);
//   }
//
// An `mcmd=` block ends with the `endcmd` line of the segment whose
// `spawnssofar=` reaches its `totspawns=`; when a segment lacks either number
// (or one is not a number) its own `endcmd` ends the block.
//
// Errors (the stream cannot be resynchronised after any of them, so Next()
// keeps returning the first error and Feed() drops further bytes):
//  - a PMI-1 line longer than Limits::max_frame_bytes without '\n';
//  - a PMI-2 length field that is not a number, is zero, or exceeds the limit;
//  - an `mcmd=spawn` block longer than the limit (its final '\n' included).
#ifndef PMI_SHIM_PROTOCOL_PMI_FRAME_DECODER_H_
#define PMI_SHIM_PROTOCOL_PMI_FRAME_DECODER_H_

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "protocol/pmi/message.h"

namespace pmi_shim::wire {

struct Frame {
  Framing framing = Framing::kPmi1Line;
  // kPmi1Line: the line without its '\n' (for `mcmd=spawn`, the whole block
  // through the final "endcmd\n", newlines included).
  // kPmi2Record: the payload without the length field.
  std::string payload;
  // True when payload is an `mcmd=spawn` block (parse with ParsePmi1Spawn).
  bool is_spawn_block = false;
};

struct FrameLimits {
  // Hydra reassembles up to 64 KiB; MPICH-3 PMI-2 clients cap a command there.
  size_t max_frame_bytes = 64 * 1024;
};

class FrameDecoder {
 public:
  explicit FrameDecoder(FrameLimits limits = {}) : limits_(limits) {}

  // Appends bytes read from the peer.
  void Feed(absl::string_view bytes);

  // The next complete frame, std::nullopt when more bytes are needed, or an
  // InvalidArgument error when the stream is corrupt.
  absl::StatusOr<std::optional<Frame>> Next();

  // Bytes received but not yet returned as a frame.
  size_t buffered_bytes() const { return buffer_.size() - consumed_; }

 private:
  enum class Kind { kUndecided, kLine, kSpawnBlock, kRecord };
  // A spawn segment's `totspawns=` or `spawnssofar=` (first one wins).
  struct SegmentCount {
    bool seen = false;
    std::optional<int64_t> value;  // nullopt when seen but not a number
  };
  // What is known about the frame starting at consumed_, so that a frame fed
  // one byte at a time is still scanned once (O(n) overall).
  struct Pending {
    Kind kind = Kind::kUndecided;
    size_t scanned = 0;  // bytes after consumed_ already searched for '\n'
    SegmentCount totspawns;
    SegmentCount spawnssofar;
  };

  absl::StatusOr<std::optional<Frame>> Decode();
  absl::StatusOr<std::optional<Frame>> DecodeLine(absl::string_view rest);
  absl::StatusOr<std::optional<Frame>> DecodeSpawnBlock(absl::string_view rest);
  absl::StatusOr<std::optional<Frame>> DecodeRecord(absl::string_view rest);
  void NoteSpawnLine(absl::string_view line);
  bool SegmentEndsBlock() const;
  Frame Take(Framing framing, size_t payload_offset, size_t payload_size, size_t frame_size);

  FrameLimits limits_;
  std::string buffer_;
  size_t consumed_ = 0;
  Pending pending_;
  absl::Status error_;  // sticky: nothing after a corrupt frame is trusted
};

// Convenience: parses a frame with the codec its framing calls for.
absl::StatusOr<Message> ParseFrame(const Frame& frame);

}  // namespace pmi_shim::wire

#endif  // PMI_SHIM_PROTOCOL_PMI_FRAME_DECODER_H_
