// Fuzz target for the PMIx connect-message parser: any bytes as what a
// container's client writes first into the relay (tcp_relay.cc), whole and
// in small pieces the way the relay gathers them.
// Invariants: no crash; errors are InvalidArgument and one line; a length is
// known exactly when the 16-byte header is, and lies in [16, 16 + 128 KiB];
// a rewrite keeps the message's size, changes at most the 16 bytes of ids,
// leaves other security modules untouched, is idempotent, and rewriting with
// other ids and back gives the same bytes; pieces give what the whole gives.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "protocol/pmix/pmix_handshake.h"
#include "tools/build/fuzz_check.h"

namespace {

using pmi_shim::pmix::PmixConnectMessageLength;
using pmi_shim::pmix::RewritePmixConnectIdentity;

constexpr size_t kHeader = 16;
constexpr size_t kMaxMessage = kHeader + 128 * 1024;

void CheckError(const absl::Status& status) {
  FUZZ_CHECK(status.code() == absl::StatusCode::kInvalidArgument);
  FUZZ_CHECK(status.message().find('\n') == absl::string_view::npos);
}

// What the relay forwards for `stream`: nullopt while it still waits for
// bytes, "" when it refuses the client.
std::optional<std::string> Forwarded(absl::string_view stream, uint32_t uid, uint32_t gid) {
  absl::StatusOr<std::optional<size_t>> length = PmixConnectMessageLength(stream);
  if (!length.ok()) {
    CheckError(length.status());
    FUZZ_CHECK(stream.size() >= kHeader);
    return std::string();
  }
  FUZZ_CHECK(length->has_value() == (stream.size() >= kHeader));
  if (!length->has_value()) return std::nullopt;
  FUZZ_CHECK(**length >= kHeader && **length <= kMaxMessage);
  if (stream.size() < **length) return std::nullopt;
  const absl::string_view message = stream.substr(0, **length);
  absl::StatusOr<std::string> rewritten = RewritePmixConnectIdentity(message, uid, gid);
  if (!rewritten.ok()) {
    CheckError(rewritten.status());
    return std::string();
  }
  FUZZ_CHECK(rewritten->size() == message.size());
  size_t changed = 0;
  for (size_t i = 0; i < message.size(); ++i) changed += (*rewritten)[i] != message[i];
  FUZZ_CHECK(changed <= 16);
  FUZZ_CHECK(absl::string_view(*rewritten).substr(0, kHeader) == message.substr(0, kHeader));
  // "native\0" right after the header is the only module whose bytes change.
  if (message.substr(kHeader, 7) != absl::string_view("native\0", 7)) {
    FUZZ_CHECK(*rewritten == message);
  }
  absl::StatusOr<std::string> twice = RewritePmixConnectIdentity(*rewritten, uid, gid);
  FUZZ_CHECK(twice.ok() && *twice == *rewritten);
  absl::StatusOr<std::string> other = RewritePmixConnectIdentity(message, uid + 1, ~gid);
  FUZZ_CHECK(other.ok());
  absl::StatusOr<std::string> back = RewritePmixConnectIdentity(*other, uid, gid);
  FUZZ_CHECK(back.ok() && *back == *rewritten);
  return *rewritten + std::string(stream.substr(message.size()));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const absl::string_view stream(reinterpret_cast<const char*>(data), size);
  const std::optional<std::string> whole = Forwarded(stream, 1000, 1001);
  // The relay's way: append each read, try again, stop at the first answer.
  const size_t piece = 1 + (size > 0 ? data[size - 1] % 23 : 0);
  std::string gathered;
  std::optional<std::string> pieces;
  for (size_t at = 0; at < size && !pieces.has_value(); at += piece) {
    const absl::string_view next = stream.substr(at, piece);
    gathered.append(next.data(), next.size());
    pieces = Forwarded(gathered, 1000, 1001);
  }
  // Once the message is complete the rest of the stream passes as it came.
  if (pieces.has_value() && !pieces->empty()) {
    *pieces += std::string(stream.substr(gathered.size()));
  }
  FUZZ_CHECK(pieces == whole);
  return 0;
}
