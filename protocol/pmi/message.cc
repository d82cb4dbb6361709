// wire::Message accessors, builders and the log rendering.
#include "protocol/pmi/message.h"

#include <algorithm>

#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace pmi_shim::wire {
namespace {

// Log lines must stay one line and safe for a terminal, yet Flux kvsnames
// (UTF-8 'ƒ') and hex business cards should stay readable, so only strings
// that hold a control byte, a backslash or a non-ASCII byte get C-escaped.
std::string ForLog(absl::string_view s) {
  const bool plain = std::all_of(s.begin(), s.end(), [](char c) {
    const auto u = static_cast<unsigned char>(c);
    return u >= 0x20 && u < 0x7f && c != '\\';
  });
  return plain ? std::string(s) : absl::CHexEscape(s);
}

}  // namespace

std::optional<absl::string_view> Message::Find(absl::string_view key) const {
  for (const auto& [k, v] : fields) {
    if (k == key) return absl::string_view(v);
  }
  return std::nullopt;
}

std::optional<int64_t> Message::FindInt(absl::string_view key) const {
  std::optional<absl::string_view> text = Find(key);
  int64_t value = 0;
  if (!text.has_value() || !absl::SimpleAtoi(*text, &value)) return std::nullopt;
  return value;
}

Message& Message::Add(absl::string_view key, absl::string_view value) {
  fields.emplace_back(std::string(key), std::string(value));
  return *this;
}

Message& Message::Add(absl::string_view key, int64_t value) {
  fields.emplace_back(std::string(key), absl::StrCat(value));
  return *this;
}

std::string Message::DebugString() const {
  std::string out = absl::StrCat("cmd=", ForLog(command));
  for (const auto& [k, v] : fields) {
    absl::StrAppend(&out, " ", ForLog(k), "=", ForLog(v));
  }
  return out;
}

}  // namespace pmi_shim::wire
