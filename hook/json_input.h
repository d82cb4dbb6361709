// Bounded, depth-limited JSON input for the hook: every file the hook reads
// (the OCI state, a bundle's config.json, the admin config) is user- or
// image-controlled, so reading is capped and parse errors become one line
// naming the file.
#ifndef PMI_SHIM_HOOK_JSON_INPUT_H_
#define PMI_SHIM_HOOK_JSON_INPUT_H_

#include <cstddef>
#include <nlohmann/json.hpp>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace pmi_shim::hook {

// Largest input the hook reads: OCI configs are a few KiB; 4 MiB leaves room
// for huge env/mount lists while keeping a hostile input cheap to refuse.
inline constexpr size_t kMaxInputBytes = 4 << 20;
// Deepest nesting accepted; real configs stay under 6.
inline constexpr int kMaxJsonDepth = 64;

// Reads all of `fd` (up to `cap` bytes); `origin` names it in errors.
absl::StatusOr<std::string> ReadBoundedFd(int fd, absl::string_view origin,
                                          size_t cap = kMaxInputBytes);
// Opens `path` without following a final symlink and reads it bounded.
// NotFound when it does not exist.
absl::StatusOr<std::string> ReadBoundedFile(const std::string& path, size_t cap = kMaxInputBytes);

// Parses `text` as one JSON object. Errors read "ORIGIN: not valid JSON (...)".
absl::StatusOr<nlohmann::json> ParseJsonObject(absl::string_view text, absl::string_view origin);

// "ORIGIN: FIELD: expected TYPE, got ACTUAL" as InvalidArgument, on one line
// (control characters from the input are escaped: "\n", "\x01").
absl::Status FieldError(absl::string_view origin, absl::string_view field,
                        absl::string_view problem);
absl::Status TypeError(absl::string_view origin, absl::string_view field,
                       absl::string_view expected, const nlohmann::json& got);

}  // namespace pmi_shim::hook

#endif  // PMI_SHIM_HOOK_JSON_INPUT_H_
