#include "hook/json_input.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <stdexcept>

#include "absl/strings/str_cat.h"
#include "common/unique_fd.h"

namespace pmi_shim::hook {
namespace {

struct TooDeep : std::runtime_error {
  TooDeep() : std::runtime_error("too deep") {}
};

// Keys and values quoted from a user's file may hold control characters (a
// JSON "\n" is a real newline once parsed); errors stay one line.
std::string EscapeControlCharacters(absl::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (const char c : text) {
    const auto byte = static_cast<unsigned char>(c);
    if (byte >= 0x20 && byte != 0x7f) {
      out += c;
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '\r') {
      out += "\\r";
    } else if (c == '\t') {
      out += "\\t";
    } else {
      absl::StrAppend(&out, "\\x", absl::Hex(byte, absl::kZeroPad2));
    }
  }
  return out;
}

}  // namespace

absl::StatusOr<std::string> ReadBoundedFd(int fd, absl::string_view origin, size_t cap) {
  std::string text;
  char buffer[16384];
  while (true) {
    ssize_t n = ::read(fd, buffer, sizeof buffer);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return absl::ErrnoToStatus(errno, absl::StrCat(origin, ": cannot read"));
    if (n == 0) return text;
    if (text.size() + static_cast<size_t>(n) > cap) {
      return absl::InvalidArgumentError(
          absl::StrCat(origin, ": larger than ", cap, " bytes; refusing to read it"));
    }
    text.append(buffer, static_cast<size_t>(n));
  }
}

absl::StatusOr<std::string> ReadBoundedFile(const std::string& path, size_t cap) {
  // O_NONBLOCK: a FIFO planted where a file should be must not hang the hook.
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK));
  if (!fd.valid()) return absl::ErrnoToStatus(errno, absl::StrCat("cannot open ", path));
  return ReadBoundedFd(fd.get(), path, cap);
}

absl::StatusOr<nlohmann::json> ParseJsonObject(absl::string_view text, absl::string_view origin) {
  // nlohmann recurses when it destroys a value: refuse deep nesting while
  // parsing, before the tree exists.
  nlohmann::json::parser_callback_t limit_depth = [](int depth, nlohmann::json::parse_event_t,
                                                     nlohmann::json&) {
    if (depth > kMaxJsonDepth) throw TooDeep();
    return true;
  };
  nlohmann::json value;
  try {
    value = nlohmann::json::parse(text.begin(), text.end(), limit_depth);
  } catch (const TooDeep&) {
    return absl::InvalidArgumentError(
        absl::StrCat(origin, ": nested deeper than ", kMaxJsonDepth, " levels"));
  } catch (const nlohmann::json::exception& error) {
    return absl::InvalidArgumentError(
        EscapeControlCharacters(absl::StrCat(origin, ": not valid JSON (", error.what(), ")")));
  }
  if (!value.is_object()) return TypeError(origin, "top level", "an object", value);
  return value;
}

absl::Status FieldError(absl::string_view origin, absl::string_view field,
                        absl::string_view problem) {
  return absl::InvalidArgumentError(
      EscapeControlCharacters(absl::StrCat(origin, ": ", field, ": ", problem)));
}

absl::Status TypeError(absl::string_view origin, absl::string_view field,
                       absl::string_view expected, const nlohmann::json& got) {
  return FieldError(origin, field, absl::StrCat("expected ", expected, ", got ", got.type_name()));
}

}  // namespace pmi_shim::hook
