#include "hook/paths.h"

#include "absl/strings/match.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"

namespace pmi_shim::hook {

std::string NormalizePath(absl::string_view base, absl::string_view path) {
  std::vector<absl::string_view> parts;
  auto add = [&parts](absl::string_view text) {
    for (absl::string_view part : absl::StrSplit(text, '/', absl::SkipEmpty())) {
      if (part == ".") continue;
      if (part == "..") {
        if (!parts.empty()) parts.pop_back();
        continue;
      }
      parts.push_back(part);
    }
  };
  if (!absl::StartsWith(path, "/")) add(base);
  add(path);
  return "/" + absl::StrJoin(parts, "/");
}

bool IsNormalAbsolute(absl::string_view path) {
  if (path.find('\0') != absl::string_view::npos) return false;
  return absl::StartsWith(path, "/") && NormalizePath("/", path) == path;
}

bool IsStrictlyUnder(absl::string_view path, absl::string_view dir) {
  if (dir == "/") return path.size() > 1 && path[0] == '/';
  return path.size() > dir.size() + 1 && absl::StartsWith(path, dir) && path[dir.size()] == '/';
}

std::string AllowedParent(absl::string_view path, const std::vector<std::string>& dirs) {
  for (const std::string& dir : dirs) {
    if (IsStrictlyUnder(path, dir)) return dir;
  }
  return "";
}

std::string ParentDir(absl::string_view path) {
  size_t slash = path.rfind('/');
  if (slash == 0 || slash == absl::string_view::npos) return "/";
  return std::string(path.substr(0, slash));
}

}  // namespace pmi_shim::hook
