// wire::Message: one decoded PMI request or response, independent of framing.
//
// This is the currency between the codecs (pmi1.h, pmi2.h), which turn bytes
// into Messages and back, and the sessions, which give them meaning. A Message
// keeps its fields in wire order, duplicates included, because some peers care
// about order (new MPICH puts `value=` last so Flux can read it to end of line)
// and a few requests repeat keys (multi-segment spawn).
//
//   wire::Message reply("get_result");
//   reply.Add("rc", 0).Add("value", "abc");
//   if (auto key = request.Find("key")) { ... *key ... }
#ifndef PMI_SHIM_PROTOCOL_PMI_MESSAGE_H_
#define PMI_SHIM_PROTOCOL_PMI_MESSAGE_H_

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/string_view.h"

namespace pmi_shim::wire {

// How a message travels: a PMI-1 newline-terminated line (also used for the
// PMI-2 `init` handshake and PMI_PORT `initack`), or a PMI-2 record with a
// 6-byte length prefix.
enum class Framing { kPmi1Line, kPmi2Record };

struct Message {
  Message() = default;
  explicit Message(absl::string_view command_name) : command(command_name) {}

  // The value of `cmd=` (or "spawn" for a PMI-1 `mcmd=spawn` block).
  std::string command;
  // Every other key=value pair, in wire order.
  std::vector<std::pair<std::string, std::string>> fields;

  // The value of the first field named `key`, if any.
  std::optional<absl::string_view> Find(absl::string_view key) const;
  bool Has(absl::string_view key) const { return Find(key).has_value(); }
  // Parses the first field named `key` as a decimal integer; nullopt when the
  // field is missing or not a number.
  std::optional<int64_t> FindInt(absl::string_view key) const;

  Message& Add(absl::string_view key, absl::string_view value);
  Message& Add(absl::string_view key, const char* value) {
    return Add(key, absl::string_view(value));
  }
  Message& Add(absl::string_view key, int64_t value);
  Message& Add(absl::string_view key, int value) { return Add(key, static_cast<int64_t>(value)); }
  Message& Add(absl::string_view key, bool value) = delete;  // say "TRUE"/"FALSE" or 0/1 explicitly

  // Human-readable one-line rendering for logs and traces: `cmd=NAME k=v ...`.
  std::string DebugString() const;

  friend bool operator==(const Message& a, const Message& b) {
    return a.command == b.command && a.fields == b.fields;
  }
};

}  // namespace pmi_shim::wire

#endif  // PMI_SHIM_PROTOCOL_PMI_MESSAGE_H_
