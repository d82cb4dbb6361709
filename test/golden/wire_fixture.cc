// Parsers for the three capture formats described in wire_fixture.h.
#include "test/golden/wire_fixture.h"

#include <cstdlib>
#include <fstream>
#include <map>
#include <optional>
#include <sstream>
#include <tuple>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

namespace pmi_shim::golden {
namespace {

absl::Status LineError(int line, absl::string_view what) {
  return absl::InvalidArgumentError(absl::StrCat("capture line ", line, ": ", what));
}

// `cmd=NAME;...`: a PMI-2 payload whose length field the capture left out.
bool IsBarePmi2Payload(absl::string_view bytes) {
  if (!absl::StartsWith(bytes, "cmd=")) return false;
  const size_t stop = bytes.find_first_of("; \n");
  return stop != absl::string_view::npos && bytes[stop] == ';';
}

// A PMI-2 length field read by a syscall of its own.
bool IsLoneLengthField(absl::string_view bytes) {
  if (bytes.size() != 6) return false;
  bool digit = false;
  for (char c : bytes) {
    if (absl::ascii_isdigit(static_cast<unsigned char>(c))) {
      digit = true;
    } else if (c != ' ') {
      return false;
    }
  }
  return digit;
}

// Log text of one entry of a line-oriented log, as bytes on the wire: a PMI-1
// line lost its '\n' when it was logged; a PMI-2 record never had one.
std::string LoggedLineBytes(absl::string_view text) {
  const bool pmi1 = (absl::StartsWith(text, "cmd=") || absl::StartsWith(text, "mcmd=")) &&
                    !IsBarePmi2Payload(text);
  return pmi1 ? absl::StrCat(text, "\n") : std::string(text);
}

std::optional<int> LeadingInt(absl::string_view& text) {
  size_t n = 0;
  if (n < text.size() && text[n] == '-') ++n;
  while (n < text.size() && absl::ascii_isdigit(static_cast<unsigned char>(text[n]))) ++n;
  int value = 0;
  if (!absl::SimpleAtoi(text.substr(0, n), &value)) return std::nullopt;
  text.remove_prefix(n);
  return value;
}

// `rank0 -> cmd=init ...\n`
absl::StatusOr<WireRecord> ParseHydraTraceLine(absl::string_view line, int line_no) {
  WireRecord record;
  record.line = line_no;
  std::optional<int> rank;
  if (!absl::ConsumePrefix(&line, "rank") || !(rank = LeadingInt(line)).has_value()) {
    return LineError(line_no, "expected rankN");
  }
  record.rank = *rank;
  if (absl::ConsumePrefix(&line, " -> ")) {
    record.direction = Direction::kClientToServer;
  } else if (absl::ConsumePrefix(&line, " <- ")) {
    record.direction = Direction::kServerToClient;
  } else {
    return LineError(line_no, "expected ' -> ' or ' <- '");
  }
  std::string error;
  if (!absl::CUnescape(line, &record.bytes, &error)) return LineError(line_no, error);
  return record;
}

// `C<1: text` or `S>1: text`; nullopt for a line without that prefix.
absl::StatusOr<std::optional<WireRecord>> ParseServerLogLine(absl::string_view line, int line_no) {
  WireRecord record;
  record.line = line_no;
  if (absl::ConsumePrefix(&line, "C<")) {
    record.direction = Direction::kClientToServer;
  } else if (absl::ConsumePrefix(&line, "S>")) {
    record.direction = Direction::kServerToClient;
  } else {
    return std::nullopt;
  }
  if (!absl::ConsumePrefix(&line, "?")) {
    std::optional<int> rank = LeadingInt(line);
    if (!rank.has_value()) return LineError(line_no, "expected a rank or '?' after C< / S>");
    record.rank = *rank;
  }
  if (!absl::ConsumePrefix(&line, ": ")) return LineError(line_no, "expected ': ' after the rank");
  record.bytes = LoggedLineBytes(line);
  return record;
}

// Cuts `"..."` off the front of `text` and returns what was between the
// quotes, still escaped.
absl::StatusOr<absl::string_view> TakeQuoted(absl::string_view& text) {
  if (!absl::ConsumePrefix(&text, "\"")) return absl::InvalidArgumentError("expected '\"'");
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '\\') {
      ++i;
    } else if (text[i] == '"') {
      absl::string_view inside = text.substr(0, i);
      text.remove_prefix(i + 1);
      return inside;
    }
  }
  return absl::InvalidArgumentError("unterminated string");
}

// Everything after the buffer argument: `, 44) = 44`. Returns the result.
absl::StatusOr<int> StraceResult(absl::string_view rest) {
  if (absl::StartsWith(rest, "...")) {
    return absl::InvalidArgumentError("string truncated by strace (raise -s)");
  }
  const size_t close = rest.find(')');
  if (!absl::StartsWith(rest, ", ") || close == absl::string_view::npos) {
    return absl::InvalidArgumentError("expected ', COUNT)'");
  }
  rest = absl::StripLeadingAsciiWhitespace(rest.substr(close + 1));
  if (!absl::ConsumePrefix(&rest, "=")) return absl::InvalidArgumentError("expected '= RESULT'");
  rest = absl::StripLeadingAsciiWhitespace(rest);
  std::optional<int> result = LeadingInt(rest);
  if (!result.has_value()) return absl::InvalidArgumentError("result is not a number");
  return *result;
}

// Splits `PID  write(8, "...` or `PID  <... read resumed>"...` into the pid,
// the syscall name and the text from the opening quote on. nullopt for an
// `<unfinished ...>` line, whose bytes come with the resumed line.
absl::StatusOr<std::optional<std::tuple<int, absl::string_view, absl::string_view>>>
SplitStraceLine(absl::string_view line) {
  std::optional<int> pid = LeadingInt(line);
  if (!pid.has_value()) return absl::InvalidArgumentError("expected a pid");
  line = absl::StripLeadingAsciiWhitespace(line);
  if (absl::EndsWith(line, "<unfinished ...>")) return std::nullopt;
  absl::string_view syscall;
  if (absl::ConsumePrefix(&line, "<... ")) {
    const size_t end = line.find(" resumed>");
    if (end == absl::string_view::npos) return absl::InvalidArgumentError("expected 'resumed>'");
    syscall = line.substr(0, end);
    line.remove_prefix(end + 9);
  } else {
    const size_t paren = line.find('(');
    const size_t comma = line.find(", ");
    if (paren == absl::string_view::npos || comma == absl::string_view::npos || comma < paren) {
      return absl::InvalidArgumentError("expected 'SYSCALL(FD, '");
    }
    syscall = line.substr(0, paren);
    line.remove_prefix(comma + 2);
  }
  return std::make_tuple(*pid, syscall, line);
}

// The bytes a read or write moved, from its buffer argument on
// (`"...", 44) = 44`); nullopt when the call moved none.
absl::StatusOr<std::optional<std::string>> StraceBytes(absl::string_view syscall,
                                                       absl::string_view rest) {
  if (!absl::StartsWith(rest, "\"")) {
    // strace shows a pointer, not a string, for a buffer a failed call left
    // untouched.
    const size_t comma = rest.find(", ");
    if (comma == absl::string_view::npos) return absl::InvalidArgumentError("expected a string");
    absl::StatusOr<int> result = StraceResult(rest.substr(comma));
    if (!result.ok()) return result.status();
    if (*result > 0) return absl::InvalidArgumentError("bytes moved but no string shown");
    return std::nullopt;
  }
  absl::StatusOr<absl::string_view> escaped = TakeQuoted(rest);
  if (!escaped.ok()) return escaped.status();
  absl::StatusOr<int> result = StraceResult(rest);
  if (!result.ok()) return result.status();
  if (*result <= 0) return std::nullopt;  // failed or EOF: nothing travelled
  std::string bytes, error;
  if (!absl::CUnescape(*escaped, &bytes, &error)) return absl::InvalidArgumentError(error);
  // A read shows exactly what arrived; a short write sent only a prefix.
  const auto moved = static_cast<size_t>(*result);
  if (bytes.size() < moved || (syscall == "read" && bytes.size() != moved)) {
    return absl::InvalidArgumentError(
        absl::StrCat("string holds ", bytes.size(), " bytes but the syscall returned ", moved));
  }
  bytes.resize(moved);
  return bytes;
}

// One strace line; nullopt when it carries no bytes.
absl::StatusOr<std::optional<WireRecord>> ParseStraceLine(absl::string_view line, int line_no) {
  auto split = SplitStraceLine(line);
  if (!split.ok()) return LineError(line_no, split.status().message());
  if (!split->has_value()) return std::nullopt;
  auto [pid, syscall, rest] = **split;
  WireRecord record;
  record.line = line_no;
  record.pid = pid;
  // Every strace capture traces the client process.
  if (syscall == "write") {
    record.direction = Direction::kClientToServer;
  } else if (syscall == "read") {
    record.direction = Direction::kServerToClient;
  } else {
    return LineError(line_no, absl::StrCat("unexpected syscall ", syscall));
  }
  absl::StatusOr<std::optional<std::string>> bytes = StraceBytes(syscall, rest);
  if (!bytes.ok()) return LineError(line_no, bytes.status().message());
  if (!bytes->has_value()) return std::nullopt;
  record.bytes = **std::move(bytes);
  return record;
}

void RestoreLengthFields(std::vector<WireRecord>& records) {
  std::map<std::tuple<int, int, Direction>, bool> awaiting_payload;
  for (WireRecord& record : records) {
    bool& awaiting = awaiting_payload[{record.rank, record.pid, record.direction}];
    if (awaiting) {
      awaiting = false;  // the payload of a separately read length field
      continue;
    }
    if (IsLoneLengthField(record.bytes)) {
      awaiting = true;
      continue;
    }
    if (!IsBarePmi2Payload(record.bytes)) continue;
    const size_t n = record.bytes.size();
    record.bytes =
        absl::StrCat(record.direction == Direction::kClientToServer ? absl::StrFormat("%-6zu", n)
                                                                    : absl::StrFormat("%6zu", n),
                     record.bytes);
    record.length_field_restored = true;
  }
}

absl::Status AddLine(CaptureFormat format, absl::string_view line, int line_no,
                     std::vector<WireRecord>& records) {
  if (format == CaptureFormat::kHydraTrace) {
    absl::StatusOr<WireRecord> record = ParseHydraTraceLine(line, line_no);
    if (!record.ok()) return record.status();
    records.push_back(*std::move(record));
    return absl::OkStatus();
  }
  absl::StatusOr<std::optional<WireRecord>> record = format == CaptureFormat::kStrace
                                                         ? ParseStraceLine(line, line_no)
                                                         : ParseServerLogLine(line, line_no);
  if (!record.ok()) return record.status();
  if (record->has_value()) {
    records.push_back(**std::move(record));
  } else if (format == CaptureFormat::kServerLog) {
    // The server logged a multi-line reply (PMI_PORT initack + set lines) as
    // one entry; its later lines carry no prefix.
    if (records.empty() || !absl::EndsWith(records.back().bytes, "\n")) {
      return LineError(line_no, "continuation line without a PMI-1 record before it");
    }
    records.back().bytes += LoggedLineBytes(line);
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<CaptureFormat> DetectCaptureFormat(absl::string_view text) {
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    if (line.empty()) continue;
    if (absl::StartsWith(line, "rank")) return CaptureFormat::kHydraTrace;
    if (absl::StartsWith(line, "C<") || absl::StartsWith(line, "S>")) {
      return CaptureFormat::kServerLog;
    }
    absl::string_view rest = line;
    if (LeadingInt(rest).has_value() &&
        (absl::StrContains(rest, "(") || absl::StrContains(rest, "resumed>"))) {
      return CaptureFormat::kStrace;
    }
    return absl::InvalidArgumentError(
        absl::StrCat("not a PMI wire capture; first line: ", line.substr(0, 60)));
  }
  return absl::InvalidArgumentError("empty capture");
}

absl::StatusOr<std::vector<WireRecord>> ParseCapture(absl::string_view text) {
  absl::StatusOr<CaptureFormat> format = DetectCaptureFormat(text);
  if (!format.ok()) return format.status();
  std::vector<WireRecord> records;
  int line_no = 0;
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    ++line_no;
    if (line.empty()) continue;
    if (absl::Status s = AddLine(*format, line, line_no, records); !s.ok()) return s;
  }
  RestoreLengthFields(records);
  return records;
}

std::string CapturePath(absl::string_view name) {
  const char* srcdir = std::getenv("TEST_SRCDIR");
  const char* workspace = std::getenv("TEST_WORKSPACE");
  return absl::StrCat(srcdir != nullptr ? srcdir : ".", "/",
                      workspace != nullptr ? workspace : "pmi_shim", "/test/testdata/wire/", name);
}

absl::StatusOr<std::string> ReadCapture(absl::string_view name) {
  const std::string path = CapturePath(name);
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot open ", path));
  std::ostringstream contents;
  contents << in.rdbuf();
  return contents.str();
}

}  // namespace pmi_shim::golden
