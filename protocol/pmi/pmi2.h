// PMI-2 (wire version 2.0) codec. Pure: no I/O.
//
// A PMI-2 record is a 6-byte ASCII decimal length followed by exactly that
// many payload bytes: `cmd=NAME;key=value;...;` with every token ending in ';'
// and no newline. (The PMI-2 `init` handshake itself is a PMI-1 line.)
//
// Parsing is lenient (reference/protocols.md §2.3, §8):
//  - the length field may be right-aligned (new MPICH/Hydra), left-aligned
//    (Slurm, MPICH-3 client) or zero-padded; see ParsePmi2Length;
//  - `;;` inside a value is read as one literal ';' (MPICH-3/Slurm clients
//    escape that way);
//  - a missing final ';' is accepted; `cmd=` may appear at any position.
// Rejected: no `cmd=` (or an empty or a second one), an empty key, a token
// without '=', a NUL byte.
//
// Formatting writes the length right-aligned ("%6zu", what current MPICH and
// Hydra emit), `cmd=NAME;`, then `key=value;` per field in order. A ';'
// inside a value is written as ";;": only MPICH-3-style clients (Slurm's
// libpmi2 among them) ever put one in a value, escaped that way, and they
// undo the doubling when they read it back, so a value comes back to them
// as they stored it. Keys must not contain ';' or '='.
#ifndef PMI_SHIM_PROTOCOL_PMI_PMI2_H_
#define PMI_SHIM_PROTOCOL_PMI_PMI2_H_

#include <cstddef>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "protocol/pmi/message.h"

namespace pmi_shim::wire {

inline constexpr size_t kPmi2LengthFieldSize = 6;

// Reads a 6-byte length field: decimal digits with optional leading and/or
// trailing spaces (and leading zeros). Anything else, or zero, is an error.
absl::StatusOr<size_t> ParsePmi2Length(absl::string_view field);

// Parses a payload (the bytes after the length field).
absl::StatusOr<Message> ParsePmi2Payload(absl::string_view payload);

// Formats `message` as a complete record: length field + payload. The
// payload must stay under 1,000,000 bytes, the most six digits can count.
std::string FormatPmi2(const Message& message);

}  // namespace pmi_shim::wire

#endif  // PMI_SHIM_PROTOCOL_PMI_PMI2_H_
