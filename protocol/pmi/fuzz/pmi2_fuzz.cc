// Fuzz target for the PMI-2 codec: the first six bytes as a length field,
// the whole input and the input after six bytes as payloads. Invariants:
// nothing crashes; errors are InvalidArgument; an accepted length is 1..999999
// and survives FormatPmi2's padding; a parsed payload formats into a record
// whose length field is right and, when no ';' needs escaping, parses back to
// the same message.
#include <cstddef>
#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/str_format.h"
#include "absl/strings/string_view.h"
#include "protocol/pmi/message.h"
#include "protocol/pmi/pmi2.h"
#include "tools/build/fuzz_check.h"

namespace {

using pmi_shim::wire::FormatPmi2;
using pmi_shim::wire::kPmi2LengthFieldSize;
using pmi_shim::wire::Message;
using pmi_shim::wire::ParsePmi2Length;
using pmi_shim::wire::ParsePmi2Payload;

bool HasSemicolon(absl::string_view s) { return s.find(';') != absl::string_view::npos; }

void CheckLength(absl::string_view field) {
  absl::StatusOr<size_t> n = ParsePmi2Length(field);
  if (!n.ok()) {
    FUZZ_CHECK(n.status().code() == absl::StatusCode::kInvalidArgument);
    return;
  }
  FUZZ_CHECK(*n >= 1 && *n <= 999999);
  FUZZ_CHECK(ParsePmi2Length(absl::StrFormat("%6zu", *n)).value_or(0) == *n);
  FUZZ_CHECK(ParsePmi2Length(absl::StrFormat("%-6zu", *n)).value_or(0) == *n);
  FUZZ_CHECK(ParsePmi2Length(absl::StrFormat("%06zu", *n)).value_or(0) == *n);
}

void CheckPayload(absl::string_view payload) {
  absl::StatusOr<Message> m = ParsePmi2Payload(payload);
  if (!m.ok()) {
    FUZZ_CHECK(m.status().code() == absl::StatusCode::kInvalidArgument);
    return;
  }
  FUZZ_CHECK(!m->command.empty());
  bool escaped = HasSemicolon(m->command);
  for (const auto& [key, value] : m->fields) {
    FUZZ_CHECK(!key.empty() && key != "cmd" && key.find('=') == std::string::npos);
    escaped = escaped || HasSemicolon(key) || HasSemicolon(value);
  }
  if (payload.size() > 999999) return;  // beyond what six digits can frame
  const std::string record = FormatPmi2(*m);
  FUZZ_CHECK(record.size() > kPmi2LengthFieldSize);
  const absl::string_view body = absl::string_view(record).substr(kPmi2LengthFieldSize);
  FUZZ_CHECK(
      ParsePmi2Length(absl::string_view(record).substr(0, kPmi2LengthFieldSize)).value_or(0) ==
      body.size());
  // ';' is written unescaped (no server unescapes), so only ';'-free
  // messages can come back intact.
  if (escaped) return;
  absl::StatusOr<Message> again = ParsePmi2Payload(body);
  FUZZ_CHECK(again.ok() && *again == *m);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const absl::string_view input(reinterpret_cast<const char*>(data), size);
  if (input.size() >= kPmi2LengthFieldSize) {
    CheckLength(input.substr(0, kPmi2LengthFieldSize));
    CheckPayload(input.substr(kPmi2LengthFieldSize));
  }
  CheckPayload(input);
  return 0;
}
