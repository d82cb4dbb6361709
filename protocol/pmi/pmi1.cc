// PMI-1 line and spawn-block codec (see pmi1.h for the accepted dialects).
#include "protocol/pmi/pmi1.h"

#include <utility>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "protocol/pmi/text_util.h"

namespace pmi_shim::wire {
namespace {

using internal::Quote;

// Token separators. MPICH and Hydra end lines with a bare LF, but a
// hand-written test client or a telnet session sends CRLF; counting '\r' as a
// blank accepts that, and keeps '\r' out of parsed values, so a formatted
// line can never end in a "\r\n" that would read back differently.
constexpr absl::string_view kBlanks = " \t\r";

absl::Status CheckNoNul(absl::string_view text, absl::string_view what) {
  // No peer sends NUL; C parsers (Flux, Slurm, MPICH) would silently cut the
  // value there, so a NUL means corruption or an attack, not a dialect.
  if (text.find('\0') != absl::string_view::npos) {
    return absl::InvalidArgumentError(absl::StrCat(what, " contains a NUL byte"));
  }
  return absl::OkStatus();
}

// What the previous token of a line was; a fragment without '=' may only
// continue a field's value.
enum class Previous { kNothing, kCommand, kField };

absl::Status AddLineToken(absl::string_view token, Message& message, bool& have_command,
                          Previous& previous) {
  const size_t eq = token.find('=');
  if (eq == absl::string_view::npos) {
    // Flux reads string values to the end of the line and new MPICH sends
    // `message=` text with spaces in abort; rejoining the fragments recovers
    // the value (runs of blanks become one space).
    if (previous != Previous::kField) {
      return absl::InvalidArgumentError(
          absl::StrCat("PMI-1 token ", Quote(token), " has no '=' and follows no key=value field"));
    }
    absl::StrAppend(&message.fields.back().second, " ", token);
    return absl::OkStatus();
  }
  const absl::string_view key = token.substr(0, eq);
  const absl::string_view value = token.substr(eq + 1);
  if (key.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("PMI-1 token ", Quote(token), " has an empty key"));
  }
  if (key == "cmd") {
    if (have_command) {
      return absl::InvalidArgumentError("PMI-1 line has more than one cmd= token");
    }
    if (value.empty()) return absl::InvalidArgumentError("PMI-1 line has an empty cmd= token");
    message.command = std::string(value);
    have_command = true;
    previous = Previous::kCommand;
    return absl::OkStatus();
  }
  message.fields.emplace_back(std::string(key), std::string(value));
  previous = Previous::kField;
  return absl::OkStatus();
}

// One line of a spawn block: `key=value` where the value runs to the end of
// the line, or the bare `endcmd` (returned with an empty key).
absl::StatusOr<std::pair<absl::string_view, absl::string_view>> SplitSpawnLine(
    absl::string_view line) {
  if (line == "endcmd") return std::make_pair(absl::string_view(), absl::string_view());
  const size_t eq = line.find('=');
  if (eq == absl::string_view::npos) {
    return absl::InvalidArgumentError(
        absl::StrCat("PMI-1 spawn line ", Quote(line), " has no '='"));
  }
  if (eq == 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("PMI-1 spawn line ", Quote(line), " has an empty key"));
  }
  return std::make_pair(line.substr(0, eq), line.substr(eq + 1));
}

// Applies one line of a spawn block to `message`; `in_segment` tracks
// whether a segment is open (between its first line and its endcmd).
absl::Status AddSpawnLine(absl::string_view line, Message& message, bool& in_segment) {
  auto split = SplitSpawnLine(line);
  if (!split.ok()) return split.status();
  const auto [key, value] = *split;
  if (key.empty()) {  // endcmd
    if (!in_segment) {
      return absl::InvalidArgumentError("PMI-1 spawn block has an endcmd outside a segment");
    }
    message.fields.emplace_back("endcmd", "");
    in_segment = false;
    return absl::OkStatus();
  }
  if (key == "mcmd") {
    // Every segment opens with its own `mcmd=spawn` line (MPICH writes one
    // per command); the endcmd fields already mark the boundaries.
    if (value != "spawn") {
      return absl::InvalidArgumentError(
          absl::StrCat("PMI-1 multi-line command ", Quote(value), " is not spawn"));
    }
    if (in_segment) {
      return absl::InvalidArgumentError("PMI-1 spawn segment has mcmd= before its endcmd");
    }
    in_segment = true;
    return absl::OkStatus();
  }
  if (key == "endcmd") {  // {"endcmd", ""} marks segment ends in the message
    return absl::InvalidArgumentError(
        absl::StrCat("PMI-1 spawn line ", Quote(line), " uses the reserved key endcmd"));
  }
  message.fields.emplace_back(std::string(key), std::string(value));
  in_segment = true;
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<Message> ParsePmi1Line(absl::string_view line) {
  absl::string_view body = line;
  absl::ConsumeSuffix(&body, "\n");
  if (absl::Status s = CheckNoNul(body, "PMI-1 line"); !s.ok()) return s;
  if (body.find('\n') != absl::string_view::npos) {
    return absl::InvalidArgumentError("PMI-1 line contains a newline before its end");
  }
  Message message;
  bool have_command = false;
  Previous previous = Previous::kNothing;
  bool empty = true;
  for (absl::string_view token :
       absl::StrSplit(body, absl::ByAnyChar(kBlanks), absl::SkipEmpty())) {
    empty = false;
    if (absl::Status s = AddLineToken(token, message, have_command, previous); !s.ok()) return s;
  }
  if (empty) return absl::InvalidArgumentError("empty PMI-1 line");
  if (!have_command) {
    if (message.Has("mcmd")) {
      return absl::InvalidArgumentError(
          "PMI-1 line has mcmd= instead of cmd=; multi-line commands need ParsePmi1Spawn");
    }
    return absl::InvalidArgumentError("PMI-1 line has no cmd= token");
  }
  return message;
}

absl::StatusOr<Message> ParsePmi1Spawn(absl::string_view block) {
  if (absl::Status s = CheckNoNul(block, "PMI-1 spawn block"); !s.ok()) return s;
  if (!absl::StartsWith(block, "mcmd=")) {
    return absl::InvalidArgumentError("PMI-1 spawn block does not start with mcmd=spawn");
  }
  absl::ConsumeSuffix(&block, "\n");
  Message message("spawn");
  bool in_segment = false;
  for (absl::string_view line : absl::StrSplit(block, '\n')) {
    absl::ConsumeSuffix(&line, "\r");
    if (absl::Status s = AddSpawnLine(line, message, in_segment); !s.ok()) return s;
  }
  if (in_segment) return absl::InvalidArgumentError("PMI-1 spawn block does not end with endcmd");
  return message;
}

std::string FormatPmi1(const Message& message) {
  std::string out = absl::StrCat("cmd=", message.command);
  // `value` goes last so that Flux, which reads string values to the end of
  // the line, and Hydra/Slurm, which stop at a space, read the same value.
  for (bool value_pass : {false, true}) {
    for (const auto& [key, value] : message.fields) {
      if ((key == "value") == value_pass) absl::StrAppend(&out, " ", key, "=", value);
    }
  }
  out.push_back('\n');
  return out;
}

}  // namespace pmi_shim::wire
