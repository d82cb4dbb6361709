#include "hook/admin_config.h"

#include <unistd.h>

#include <algorithm>
#include <nlohmann/json.hpp>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/status_macros.h"
#include "hook/environment.h"
#include "hook/json_input.h"
#include "hook/paths.h"

namespace pmi_shim::hook {
namespace {

using nlohmann::json;

absl::Status CheckKeys(absl::string_view origin, absl::string_view where, const json& object,
                       const std::vector<std::string>& known) {
  std::vector<std::string> unknown;
  for (const auto& item : object.items()) {
    if (std::find(known.begin(), known.end(), item.key()) == known.end()) {
      unknown.push_back(item.key());
    }
  }
  if (unknown.empty()) return absl::OkStatus();
  return FieldError(origin, where,
                    absl::StrCat("unknown key(s) ", absl::StrJoin(unknown, ", "),
                                 "; known: ", absl::StrJoin(known, ", ")));
}

absl::Status ReadBool(absl::string_view origin, const json& object, const std::string& key,
                      const std::string& name, bool& out) {
  auto it = object.find(key);
  if (it == object.end()) return absl::OkStatus();
  if (!it->is_boolean()) return TypeError(origin, name, "true or false", *it);
  out = it->get<bool>();
  return absl::OkStatus();
}

absl::Status ReadPath(absl::string_view origin, const json& object, const std::string& key,
                      bool allow_empty, std::optional<std::string>& out) {
  auto it = object.find(key);
  if (it == object.end()) return absl::OkStatus();
  if (!it->is_string()) return TypeError(origin, key, "a string", *it);
  std::string path = it->get<std::string>();
  if (!(allow_empty && path.empty()) && !IsNormalAbsolute(path)) {
    return FieldError(origin, key, absl::StrCat("'", path, "' is not a normalized absolute path"));
  }
  out = std::move(path);
  return absl::OkStatus();
}

absl::Status ReadAllowedDirs(absl::string_view origin, const json& object, AdminConfig& out) {
  auto it = object.find("allowed_dirs");
  if (it == object.end()) return absl::OkStatus();
  if (!it->is_array()) return TypeError(origin, "allowed_dirs", "an array of paths", *it);
  out.allowed_dirs.clear();
  for (size_t i = 0; i < it->size(); ++i) {
    const json& item = (*it)[i];
    const std::string name = absl::StrCat("allowed_dirs[", i, "]");
    if (!item.is_string()) return TypeError(origin, name, "a path", item);
    std::string dir = item.get<std::string>();
    if (!IsNormalAbsolute(dir) || dir == "/") {
      return FieldError(
          origin, name,
          absl::StrCat("'", dir, "' must be a normalized absolute path other than /"));
    }
    out.allowed_dirs.push_back(std::move(dir));
  }
  return absl::OkStatus();
}

absl::Status ReadGating(absl::string_view origin, const json& object, Gating& out) {
  auto it = object.find("gating");
  if (it == object.end()) return absl::OkStatus();
  if (!it->is_object()) return TypeError(origin, "gating", "an object", *it);
  RETURN_IF_ERROR(CheckKeys(origin, "gating", *it, {"annotation", "env", "auto"}));
  RETURN_IF_ERROR(ReadBool(origin, *it, "annotation", "gating.annotation", out.annotation));
  RETURN_IF_ERROR(ReadBool(origin, *it, "env", "gating.env", out.env));
  return ReadBool(origin, *it, "auto", "gating.auto", out.auto_detect);
}

}  // namespace

absl::StatusOr<AdminConfig> ParseAdminConfig(absl::string_view text, absl::string_view origin) {
  ASSIGN_OR_RETURN(json object, ParseJsonObject(text, origin));
  RETURN_IF_ERROR(CheckKeys(
      origin, "top level", object,
      {"allowed_dirs", "gating", "log_file", "tools_dir", "state_dir", "entrypoint_prefix"}));
  AdminConfig out;
  RETURN_IF_ERROR(ReadAllowedDirs(origin, object, out));
  RETURN_IF_ERROR(ReadGating(origin, object, out.gating));
  std::optional<std::string> log_file, state_dir;
  RETURN_IF_ERROR(ReadPath(origin, object, "log_file", /*allow_empty=*/true, log_file));
  RETURN_IF_ERROR(ReadPath(origin, object, "tools_dir", /*allow_empty=*/true, out.tools_dir));
  RETURN_IF_ERROR(ReadPath(origin, object, "state_dir", /*allow_empty=*/false, state_dir));
  if (log_file) out.log_file = *log_file;
  if (state_dir) out.state_dir = *state_dir;
  RETURN_IF_ERROR(
      ReadBool(origin, object, "entrypoint_prefix", "entrypoint_prefix", out.entrypoint_prefix));
  return out;
}

absl::StatusOr<AdminConfig> LoadAdminConfig(const std::string& path, bool required) {
  absl::StatusOr<std::string> text = ReadBoundedFile(path);
  if (absl::IsNotFound(text.status()) && !required) return AdminConfig();
  if (!text.ok()) return text.status();
  return ParseAdminConfig(*text, path);
}

std::string ToolsDirFromExecutable(const std::string& exe) {
  if (!IsNormalAbsolute(exe)) return "";
  const std::string prefix = ParentDir(ParentDir(exe));
  if (prefix == "/" || prefix == "/usr" || prefix == "/usr/local") return "";
  if (::access((prefix + "/bin/pmi-shim-client").c_str(), X_OK) != 0) return "";
  return prefix;
}

std::string ResolveToolsDir(const AdminConfig& config) {
  if (config.tools_dir.has_value()) return *config.tools_dir;
  return ToolsDirFromExecutable(SelfExecutable());
}

}  // namespace pmi_shim::hook
