// PMI-2 length field and payload codec (see pmi2.h for the accepted dialects).
#include "protocol/pmi/pmi2.h"

#include <utility>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_replace.h"
#include "protocol/pmi/text_util.h"

namespace pmi_shim::wire {
namespace {

using internal::Quote;

// Cuts the next token off `rest`: bytes up to a single ';', with each ";;"
// read as one literal ';' (the MPICH-3 and Slurm clients escape that way).
// A payload that stops without a final ';' ends its last token there.
std::string NextToken(absl::string_view& rest) {
  std::string token;
  size_t i = 0;
  while (i < rest.size()) {
    if (rest[i] != ';') {
      token.push_back(rest[i++]);
    } else if (i + 1 < rest.size() && rest[i + 1] == ';') {
      token.push_back(';');
      i += 2;
    } else {
      ++i;
      break;
    }
  }
  rest.remove_prefix(i);
  return token;
}

absl::Status AddPayloadToken(absl::string_view token, Message& message, bool& have_command) {
  const size_t eq = token.find('=');
  if (eq == absl::string_view::npos) {
    return absl::InvalidArgumentError(absl::StrCat("PMI-2 token ", Quote(token), " has no '='"));
  }
  const absl::string_view key = token.substr(0, eq);
  const absl::string_view value = token.substr(eq + 1);
  if (key.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("PMI-2 token ", Quote(token), " has an empty key"));
  }
  if (key != "cmd") {
    message.fields.emplace_back(std::string(key), std::string(value));
    return absl::OkStatus();
  }
  if (have_command) return absl::InvalidArgumentError("PMI-2 payload has more than one cmd= token");
  if (value.empty()) return absl::InvalidArgumentError("PMI-2 payload has an empty cmd= token");
  message.command = std::string(value);
  have_command = true;
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<size_t> ParsePmi2Length(absl::string_view field) {
  if (field.size() != kPmi2LengthFieldSize) {
    return absl::InvalidArgumentError(
        absl::StrCat("PMI-2 length field ", Quote(field), " is ", field.size(), " bytes, not 6"));
  }
  // Everybody reads this field with atoi(), so new MPICH's "%6u", Slurm's
  // "%-6d" and zero padding all occur; embedded blanks or signs do not.
  size_t i = 0;
  while (i < field.size() && field[i] == ' ') ++i;
  const size_t digits_begin = i;
  size_t length = 0;
  while (i < field.size() && absl::ascii_isdigit(static_cast<unsigned char>(field[i]))) {
    length = length * 10 + static_cast<size_t>(field[i] - '0');
    ++i;
  }
  const bool has_digits = i > digits_begin;
  while (i < field.size() && field[i] == ' ') ++i;
  if (!has_digits || i != field.size()) {
    return absl::InvalidArgumentError(
        absl::StrCat("PMI-2 length field ", Quote(field), " is not a decimal number"));
  }
  if (length == 0) {
    return absl::InvalidArgumentError(absl::StrCat("PMI-2 length field ", Quote(field),
                                                   " is zero; a record holds at least cmd="));
  }
  return length;
}

absl::StatusOr<Message> ParsePmi2Payload(absl::string_view payload) {
  if (payload.find('\0') != absl::string_view::npos) {
    return absl::InvalidArgumentError("PMI-2 payload contains a NUL byte");
  }
  if (payload.empty()) return absl::InvalidArgumentError("PMI-2 payload is empty");
  Message message;
  bool have_command = false;
  absl::string_view rest = payload;
  while (!rest.empty()) {
    const std::string token = NextToken(rest);
    if (absl::Status s = AddPayloadToken(token, message, have_command); !s.ok()) return s;
  }
  if (!have_command) return absl::InvalidArgumentError("PMI-2 payload has no cmd= token");
  return message;
}

std::string FormatPmi2(const Message& message) {
  std::string payload = absl::StrCat("cmd=", message.command, ";");
  for (const auto& [key, value] : message.fields) {
    absl::StrAppend(&payload, key, "=", absl::StrReplaceAll(value, {{";", ";;"}}), ";");
  }
  // Right-aligned like current MPICH and Hydra; every reader uses atoi().
  return absl::StrCat(absl::StrFormat("%6zu", payload.size()), payload);
}

}  // namespace pmi_shim::wire
