#include "hook/oci_config.h"

#include <limits>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "hook/json_input.h"
#include "hook/paths.h"

namespace pmi_shim::hook {
namespace {

using nlohmann::json;

// Typed readers: each leaves `out` untouched when the key is absent.
class Fields {
 public:
  Fields(absl::string_view origin, const json& object, std::string prefix)
      : origin_(origin), object_(object), prefix_(std::move(prefix)) {}

  std::string Name(absl::string_view key) const { return absl::StrCat(prefix_, key); }
  const json* Find(absl::string_view key) const {
    auto it = object_.find(std::string(key));
    return it == object_.end() ? nullptr : &*it;
  }

  absl::Status String(absl::string_view key, std::string& out) const {
    const json* value = Find(key);
    if (value == nullptr) return absl::OkStatus();
    if (!value->is_string()) return TypeError(origin_, Name(key), "a string", *value);
    out = value->get<std::string>();
    return absl::OkStatus();
  }

  absl::Status Id(absl::string_view key, uint32_t& out) const {
    const json* value = Find(key);
    if (value == nullptr) return absl::OkStatus();
    if (!value->is_number_unsigned() || value->get<uint64_t>() >= 0xffffffffu) {
      return TypeError(origin_, Name(key), "an id from 0 to 4294967294", *value);
    }
    out = value->get<uint32_t>();
    return absl::OkStatus();
  }

  absl::Status StringList(absl::string_view key, std::vector<std::string>& out) const {
    const json* value = Find(key);
    if (value == nullptr) return absl::OkStatus();
    if (!value->is_array()) return TypeError(origin_, Name(key), "an array of strings", *value);
    for (size_t i = 0; i < value->size(); ++i) {
      const json& item = (*value)[i];
      if (!item.is_string()) {
        return TypeError(origin_, absl::StrCat(Name(key), "[", i, "]"), "a string", item);
      }
      out.push_back(item.get<std::string>());
    }
    return absl::OkStatus();
  }

  absl::Status StringMap(absl::string_view key, std::map<std::string, std::string>& out) const {
    const json* value = Find(key);
    if (value == nullptr) return absl::OkStatus();
    if (!value->is_object()) return TypeError(origin_, Name(key), "an object", *value);
    for (const auto& [name, item] : value->items()) {
      if (!item.is_string()) {
        return TypeError(origin_, absl::StrCat(Name(key), ".", name), "a string", item);
      }
      out[name] = item.get<std::string>();
    }
    return absl::OkStatus();
  }

  // Null when absent; an error when present but not an object.
  absl::StatusOr<const json*> Object(absl::string_view key) const {
    const json* value = Find(key);
    if (value != nullptr && !value->is_object()) {
      return TypeError(origin_, Name(key), "an object", *value);
    }
    return value;
  }

  absl::StatusOr<const json*> Array(absl::string_view key) const {
    const json* value = Find(key);
    if (value != nullptr && !value->is_array()) {
      return TypeError(origin_, Name(key), "an array", *value);
    }
    return value;
  }

 private:
  absl::string_view origin_;
  const json& object_;
  std::string prefix_;
};

absl::Status ParseProcess(absl::string_view origin, const json& config, ContainerConfig& out) {
  Fields top(origin, config, "");
  ASSIGN_OR_RETURN(const json* process, top.Object("process"));
  if (process == nullptr) return absl::OkStatus();
  Fields fields(origin, *process, "process.");
  RETURN_IF_ERROR(fields.StringList("env", out.env));
  RETURN_IF_ERROR(fields.StringList("args", out.args));
  ASSIGN_OR_RETURN(const json* user, fields.Object("user"));
  if (user == nullptr) return absl::OkStatus();
  Fields user_fields(origin, *user, "process.user.");
  uint32_t uid = 0, gid = 0;
  RETURN_IF_ERROR(user_fields.Id("uid", uid));
  RETURN_IF_ERROR(user_fields.Id("gid", gid));
  out.uid = uid;
  out.gid = gid;
  return absl::OkStatus();
}

absl::Status ParseRoot(absl::string_view origin, const json& config, const std::string& bundle,
                       ContainerConfig& out) {
  Fields top(origin, config, "");
  ASSIGN_OR_RETURN(const json* root, top.Object("root"));
  if (root == nullptr) return FieldError(origin, "root.path", "missing");
  std::string path;
  RETURN_IF_ERROR(Fields(origin, *root, "root.").String("path", path));
  if (path.empty()) return FieldError(origin, "root.path", "missing or empty");
  if (path.find('\0') != std::string::npos) return FieldError(origin, "root.path", "holds a NUL");
  out.rootfs = NormalizePath(bundle, path);
  return absl::OkStatus();
}

absl::Status ParseNamespaces(absl::string_view origin, const json& config, ContainerConfig& out) {
  ASSIGN_OR_RETURN(const json* linux_section, Fields(origin, config, "").Object("linux"));
  if (linux_section == nullptr) return absl::OkStatus();
  ASSIGN_OR_RETURN(const json* namespaces,
                   Fields(origin, *linux_section, "linux.").Array("namespaces"));
  if (namespaces == nullptr) return absl::OkStatus();
  for (size_t i = 0; i < namespaces->size(); ++i) {
    const json& entry = (*namespaces)[i];
    const std::string name = absl::StrCat("linux.namespaces[", i, "]");
    if (!entry.is_object()) return TypeError(origin, name, "an object", entry);
    Fields fields(origin, entry, name + ".");
    std::string type, path;
    RETURN_IF_ERROR(fields.String("type", type));
    RETURN_IF_ERROR(fields.String("path", path));
    if (type != "network") continue;
    out.network_namespace = true;
    out.network_namespace_path = path;
  }
  return absl::OkStatus();
}

absl::Status ParseMounts(absl::string_view origin, const json& config, ContainerConfig& out) {
  ASSIGN_OR_RETURN(const json* mounts, Fields(origin, config, "").Array("mounts"));
  if (mounts == nullptr) return absl::OkStatus();
  for (size_t i = 0; i < mounts->size(); ++i) {
    const json& entry = (*mounts)[i];
    const std::string name = absl::StrCat("mounts[", i, "]");
    if (!entry.is_object()) return TypeError(origin, name, "an object", entry);
    Fields fields(origin, entry, name + ".");
    OciMount mount;
    RETURN_IF_ERROR(fields.String("destination", mount.destination));
    RETURN_IF_ERROR(fields.String("source", mount.source));
    RETURN_IF_ERROR(fields.String("type", mount.type));
    out.mounts.push_back(std::move(mount));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<OciState> ParseState(absl::string_view text, absl::string_view origin) {
  ASSIGN_OR_RETURN(json state, ParseJsonObject(text, origin));
  Fields fields(origin, state, "");
  OciState out;
  RETURN_IF_ERROR(fields.String("ociVersion", out.oci_version));
  RETURN_IF_ERROR(fields.String("id", out.id));
  RETURN_IF_ERROR(fields.String("status", out.status));
  // runc before Docker 17.06 wrote "bundlePath".
  RETURN_IF_ERROR(fields.String("bundlePath", out.bundle));
  RETURN_IF_ERROR(fields.String("bundle", out.bundle));
  RETURN_IF_ERROR(fields.StringMap("annotations", out.annotations));
  if (const json* pid = fields.Find("pid"); pid != nullptr) {
    if (!pid->is_number_integer() || pid->get<int64_t>() < 0 ||
        pid->get<int64_t>() > std::numeric_limits<pid_t>::max()) {
      return TypeError(origin, "pid", "a process id", *pid);
    }
    out.pid = static_cast<pid_t>(pid->get<int64_t>());
  }
  if (out.id.empty()) return FieldError(origin, "id", "missing or empty");
  if (out.id.find_first_of("/\0", 0, 2) != std::string::npos || out.id == "." || out.id == "..") {
    return FieldError(origin, "id", "must not hold '/' or NUL or be '.' or '..'");
  }
  if (!IsNormalAbsolute(out.bundle)) {
    return FieldError(origin, "bundle", "missing or not a normalized absolute path");
  }
  return out;
}

absl::StatusOr<ContainerConfig> ConfigFromJson(const json& config, absl::string_view origin,
                                               const std::string& bundle) {
  ContainerConfig out;
  RETURN_IF_ERROR(ParseProcess(origin, config, out));
  RETURN_IF_ERROR(ParseRoot(origin, config, bundle, out));
  RETURN_IF_ERROR(Fields(origin, config, "").StringMap("annotations", out.annotations));
  RETURN_IF_ERROR(ParseNamespaces(origin, config, out));
  RETURN_IF_ERROR(ParseMounts(origin, config, out));
  return out;
}

absl::StatusOr<ContainerConfig> ParseConfig(absl::string_view text, absl::string_view origin,
                                            const std::string& bundle) {
  ASSIGN_OR_RETURN(json config, ParseJsonObject(text, origin));
  return ConfigFromJson(config, origin, bundle);
}

std::string EnvValue(const std::vector<std::string>& env, absl::string_view key, bool* found) {
  if (found != nullptr) *found = false;
  for (const std::string& entry : env) {
    if (entry.size() > key.size() && entry[key.size()] == '=' && absl::StartsWith(entry, key)) {
      if (found != nullptr) *found = true;
      return entry.substr(key.size() + 1);
    }
  }
  return "";
}

}  // namespace pmi_shim::hook
