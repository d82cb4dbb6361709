// Reader for the real PMI wire captures in test/testdata/wire/ (testonly).
//
// The captures come in three text formats, each recording what one side of a
// PMI connection sent or received:
//   hydra trace      `rank0 -> cmd=get_maxes\n` (C-escaped, `->` is client to
//                    server, `<-` server to client);
//   server log       `C<1: cmd=get_maxes` / `S>1: cmd=maxes ...` written by a
//                    third-party PMI server, rank `?` before the PMI_PORT
//                    handshake; a line without a prefix continues the
//                    previous record (the multi-line `initack` reply);
//   strace           `123  write(8, "38    cmd=...", 44) = 44` and `read(...)`
//                    of the client process, C-escaped, possibly split across
//                    `<unfinished ...>` / `<... read resumed>` lines.
// ParseCapture turns any of them into WireRecords holding the bytes as they
// travelled: '\n' put back where a log line dropped it, strace strings
// unescaped, one record per syscall or log entry (a PMI-2 length field read
// on its own stays its own record; feed a FrameDecoder to join them).
//
// Two captures omit PMI-2 length fields: the server log prints client records
// without them, and the plain strace capture under hydra filtered out the
// 6-byte reads. A record that is a bare PMI-2 payload (`cmd=NAME;...`) and does
// not follow a lone length field in its stream gets the field put back, with
// the padding each real side uses (Slurm's libpmi2 client writes it
// left-aligned, hydra and the third-party server right-aligned), and is marked
// `length_field_restored`.
#ifndef PMI_SHIM_TEST_GOLDEN_WIRE_FIXTURE_H_
#define PMI_SHIM_TEST_GOLDEN_WIRE_FIXTURE_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace pmi_shim::golden {

enum class Direction { kClientToServer, kServerToClient };

enum class CaptureFormat { kHydraTrace, kServerLog, kStrace };

struct WireRecord {
  int rank = -1;  // -1 when the capture does not say (strace, `C<?`)
  int pid = -1;   // the traced process for strace captures, else -1
  Direction direction = Direction::kClientToServer;
  std::string bytes;  // exactly as on the wire (see the note above)
  bool length_field_restored = false;
  int line = 0;  // 1-based capture line where the record starts
};

// Recognises the format from the first non-empty line.
absl::StatusOr<CaptureFormat> DetectCaptureFormat(absl::string_view text);

// Parses a whole capture. InvalidArgument names the offending line.
absl::StatusOr<std::vector<WireRecord>> ParseCapture(absl::string_view text);

// $TEST_SRCDIR/$TEST_WORKSPACE/test/testdata/wire/<name>.
std::string CapturePath(absl::string_view name);

// Reads CapturePath(name).
absl::StatusOr<std::string> ReadCapture(absl::string_view name);

}  // namespace pmi_shim::golden

#endif  // PMI_SHIM_TEST_GOLDEN_WIRE_FIXTURE_H_
