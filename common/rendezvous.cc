#include "common/rendezvous.h"

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"

namespace pmi_shim::rendezvous {
namespace {

bool ValidKey(absl::string_view key) {
  if (key.empty() || absl::ascii_isdigit(key[0])) return false;
  for (char c : key) {
    if (!absl::ascii_isalnum(c) && c != '_') return false;
  }
  return true;
}

}  // namespace

absl::StatusOr<std::string> FormatEnvFile(const EnvEntries& entries) {
  std::string text;
  for (const auto& [key, value] : entries) {
    if (!ValidKey(key)) {
      return absl::InvalidArgumentError(absl::StrCat("'", key, "' is not a variable name"));
    }
    if (value.find_first_of(std::string("\n\0", 2)) != std::string::npos) {
      return absl::InvalidArgumentError(
          absl::StrCat("the value of ", key, " holds a newline or NUL"));
    }
    absl::StrAppend(&text, key, "=", value, "\n");
  }
  return text;
}

absl::StatusOr<EnvEntries> ParseEnvFile(const std::string& text) {
  EnvEntries entries;
  int line_number = 0;
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    ++line_number;
    if (line.empty() || line[0] == '#') continue;
    const size_t equals = line.find('=');
    if (equals == absl::string_view::npos || !ValidKey(line.substr(0, equals))) {
      return absl::InvalidArgumentError(
          absl::StrCat("line ", line_number, " is not KEY=VALUE: '", line.substr(0, 80), "'"));
    }
    if (line.find('\0') != absl::string_view::npos) {
      return absl::InvalidArgumentError(absl::StrCat("line ", line_number, " holds a NUL byte"));
    }
    entries.emplace_back(std::string(line.substr(0, equals)), std::string(line.substr(equals + 1)));
  }
  return entries;
}

std::string FormatRequestReply(const absl::StatusOr<EnvEntries>& reply) {
  absl::StatusOr<std::string> lines =
      reply.ok() ? FormatEnvFile(*reply) : absl::StatusOr<std::string>(reply.status());
  if (lines.ok()) return absl::StrCat("ok\n", *lines);
  std::string message(lines.status().message());
  for (char& c : message) {
    if (c == '\n' || c == '\0') c = ' ';
  }
  return absl::StrCat("error ", message, "\n");
}

absl::StatusOr<EnvEntries> ParseRequestReply(const std::string& text) {
  const size_t end = text.find('\n');
  if (end == std::string::npos) {
    return absl::DataLossError("the bridge's reply on request.sock ended before its first line");
  }
  const absl::string_view first = absl::string_view(text).substr(0, end);
  if (first == "ok") {
    absl::StatusOr<EnvEntries> entries = ParseEnvFile(text.substr(end + 1));
    if (!entries.ok()) {
      return absl::DataLossError(
          absl::StrCat("the bridge's reply on request.sock: ", entries.status().message()));
    }
    return entries;
  }
  if (absl::StartsWith(first, "error ")) {
    return absl::FailedPreconditionError(std::string(first.substr(6)));
  }
  return absl::DataLossError(
      absl::StrCat("the bridge's reply on request.sock starts with '", first.substr(0, 40), "'"));
}

std::string FindEnv(const EnvEntries& entries, const std::string& key) {
  for (const auto& [name, value] : entries) {
    if (name == key) return value;
  }
  return "";
}

}  // namespace pmi_shim::rendezvous
