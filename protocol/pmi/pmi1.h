// PMI-1 ("simple PMI", wire version 1.1) codec. Pure: no I/O.
//
// A PMI-1 message is one line of space-separated key=value tokens ending in
// '\n'; the only multi-line request is `mcmd=spawn` (see frame_decoder.h for
// how lines are cut out of a byte stream).
//
// Parsing is lenient because real peers disagree (reference/protocols.md §8):
//  - tokens in any order and runs of blanks (space, tab, and '\r', so CRLF
//    line ends) are accepted; values therefore never hold a '\r';
//  - `cmd=` may appear anywhere in the line;
//  - a fragment without '=' continues the previous field's value with one
//    space (Flux-style recovery of `message=some text` or a value with spaces);
//  - a value may contain '=' (the first '=' splits key from value);
//  - trailer fields such as Hydra 4.1's `found=TRUE` are kept as fields.
// Rejected: an empty line, a line with no `cmd=` (or an empty or a second
// one), an empty key, a fragment with no field before it, a NUL byte.
//
// Formatting writes `cmd=NAME` first, then the fields in order, except that a
// `value` field always goes last (what Flux's to-end-of-line parser needs and
// what new MPICH does), then '\n'.
#ifndef PMI_SHIM_PROTOCOL_PMI_PMI1_H_
#define PMI_SHIM_PROTOCOL_PMI_PMI1_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "protocol/pmi/message.h"

namespace pmi_shim::wire {

// Parses one line; a trailing "\n" (or "\r\n") is allowed but not required.
// Errors are InvalidArgument with a message naming what is wrong.
absl::StatusOr<Message> ParsePmi1Line(absl::string_view line);

// Parses a complete `mcmd=spawn` block (every line of every segment through
// the final `endcmd`). Returns command "spawn" with all key=value lines of all
// segments in order, each segment closed by a field {"endcmd", ""}. A value
// here runs to the end of its line (spawn arguments may hold spaces and '=').
// The per-segment `mcmd=spawn` lines are not kept; a line with the key
// `endcmd` is rejected so that the segment marker stays unambiguous.
absl::StatusOr<Message> ParsePmi1Spawn(absl::string_view block);

// Formats `message` as one PMI-1 line ending in '\n'.
std::string FormatPmi1(const Message& message);

}  // namespace pmi_shim::wire

#endif  // PMI_SHIM_PROTOCOL_PMI_PMI1_H_
