// Fuzz target for the PMI-1 codec: any bytes as a line and as a spawn block.
// Invariants: parsing never crashes and fails only with InvalidArgument; a
// parsed message formats into a line that parses again, identically when the
// message is canonical; a parsed spawn block re-serialises to itself.
#include <cstddef>
#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "protocol/pmi/message.h"
#include "protocol/pmi/pmi1.h"
#include "tools/build/fuzz_check.h"

namespace {

using pmi_shim::wire::FormatPmi1;
using pmi_shim::wire::Message;
using pmi_shim::wire::ParsePmi1Line;
using pmi_shim::wire::ParsePmi1Spawn;

bool HasBlank(absl::string_view s) { return s.find_first_of(" \t") != absl::string_view::npos; }

// Format/Parse is the identity when no blank can split a value and every
// `value` field is already where FormatPmi1 puts it: at the end.
bool Canonical(const Message& m) {
  if (HasBlank(m.command)) return false;
  bool seen_value = false;
  for (const auto& [key, value] : m.fields) {
    if (HasBlank(key) || HasBlank(value)) return false;
    if (key == "value") {
      seen_value = true;
    } else if (seen_value) {
      return false;
    }
  }
  return true;
}

void CheckLine(absl::string_view input) {
  absl::StatusOr<Message> m = ParsePmi1Line(input);
  if (!m.ok()) {
    FUZZ_CHECK(m.status().code() == absl::StatusCode::kInvalidArgument);
    return;
  }
  FUZZ_CHECK(!m->command.empty() && m->command.find_first_of(" \t\r\n") == std::string::npos);
  for (const auto& [key, value] : m->fields) {
    FUZZ_CHECK(!key.empty() && key != "cmd");
    FUZZ_CHECK(key.find_first_of("= \t\r\n") == std::string::npos);
    FUZZ_CHECK(value.find_first_of("\r\n") == std::string::npos);
  }
  FUZZ_CHECK(m->DebugString().find('\n') == std::string::npos);
  const std::string line = FormatPmi1(*m);
  FUZZ_CHECK(line.rfind("cmd=", 0) == 0 && line.back() == '\n');
  absl::StatusOr<Message> again = ParsePmi1Line(line);
  FUZZ_CHECK(again.ok());
  FUZZ_CHECK(again->command == m->command);
  if (Canonical(*m)) FUZZ_CHECK(*again == *m);
}

// Writes a parsed spawn message back as a block, one mcmd=spawn per segment.
std::string SpawnBlock(const Message& m) {
  std::string out;
  bool open = false;
  for (const auto& [key, value] : m.fields) {
    if (!open) out += "mcmd=spawn\n";
    open = key != "endcmd";
    out += open ? absl::StrCat(key, "=", value, "\n") : "endcmd\n";
  }
  return out;
}

void CheckSpawn(absl::string_view input) {
  absl::StatusOr<Message> m = ParsePmi1Spawn(input);
  if (!m.ok()) {
    FUZZ_CHECK(m.status().code() == absl::StatusCode::kInvalidArgument);
    return;
  }
  FUZZ_CHECK(m->command == "spawn");
  FUZZ_CHECK(!m->fields.empty() && m->fields.back().first == "endcmd");
  bool trailing_cr = false;
  for (const auto& [key, value] : m->fields) {
    FUZZ_CHECK(!key.empty() && key != "mcmd");
    FUZZ_CHECK(key != "endcmd" || value.empty());
    FUZZ_CHECK(value.find('\n') == std::string::npos);
    if (!value.empty() && value.back() == '\r') trailing_cr = true;
  }
  absl::StatusOr<Message> again = ParsePmi1Spawn(SpawnBlock(*m));
  FUZZ_CHECK(again.ok());
  // A value ending in '\r' loses it once more, like the line end it resembles.
  if (!trailing_cr) FUZZ_CHECK(*again == *m);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const absl::string_view input(reinterpret_cast<const char*>(data), size);
  CheckLine(input);
  CheckSpawn(input);
  return 0;
}
