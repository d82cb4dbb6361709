#include "hook/runtime_wrapper.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/strip.h"
#include "common/rendezvous.h"
#include "common/unique_fd.h"
#include "hook/admin_config.h"

namespace pmi_shim::hook {
namespace {

using nlohmann::json;

// runc 1.1's options that take a value; every other option is a switch.
const std::vector<std::string> kGlobalValueOptions = {"root", "log", "log-format", "criu",
                                                      "rootless"};
const std::vector<std::string> kCreateValueOptions = {"bundle", "b", "console-socket", "pid-file",
                                                      "preserve-fds"};

bool Contains(const std::vector<std::string>& list, absl::string_view item) {
  return std::find(list.begin(), list.end(), item) != list.end();
}

// Splits "-x", "--x" and "--x=v" (Go's flag package accepts one or two dashes).
struct Option {
  std::string name;
  bool has_inline_value = false;
  std::string value;
};

bool ParseOption(absl::string_view arg, Option& option) {
  if (arg.size() < 2 || arg[0] != '-' || arg == "--") return false;
  absl::ConsumePrefix(&arg, "-");
  absl::ConsumePrefix(&arg, "-");
  const size_t equals = arg.find('=');
  option.name = std::string(arg.substr(0, equals));
  option.has_inline_value = equals != absl::string_view::npos;
  if (option.has_inline_value) option.value = std::string(arg.substr(equals + 1));
  return true;
}

// Walks options from `i`; returns the index of the first operand. Calls
// `seen(name, value)` for each option that takes a value.
template <typename Seen>
size_t SkipOptions(const std::vector<std::string>& args, size_t i,
                   const std::vector<std::string>& value_options, Seen seen) {
  while (i < args.size()) {
    if (args[i] == "--") return i + 1;
    Option option;
    if (!ParseOption(args[i], option)) return i;
    ++i;
    if (!Contains(value_options, option.name)) continue;
    if (!option.has_inline_value && i < args.size()) option.value = args[i++];
    seen(option.name, option.value);
  }
  return i;
}

json MountEntry(const MountStep& step) {
  json options = json::array({"bind", "nosuid", "nodev"});
  if (step.read_only) options.push_back("ro");
  return {{"destination", step.target},
          {"type", "bind"},
          {"source", step.source},
          {"options", options}};
}

bool HasMountAt(const json& mounts, const std::string& destination) {
  return std::any_of(mounts.begin(), mounts.end(), [&](const json& m) {
    return m.is_object() && m.value("destination", "") == destination;
  });
}

json& ArrayAt(json& object, const std::string& key) {
  if (!object.contains(key) || !object[key].is_array()) object[key] = json::array();
  return object[key];
}

void AddMounts(ConfigEdit& edit, const Plan& plan) {
  json& mounts = ArrayAt(edit.config, "mounts");
  for (const MountStep& step : plan.mounts) {
    if (HasMountAt(mounts, step.target)) continue;
    json entry = MountEntry(step);
    edit.changes.push_back(
        absl::StrCat("+ mounts: ", step.source, " -> ", step.target, " (",
                     absl::StrJoin(entry["options"].get<std::vector<std::string>>(), ","), ")"));
    mounts.push_back(std::move(entry));
  }
}

void AddHook(ConfigEdit& edit, const std::string& stage, const ConfigEditOptions& options) {
  std::vector<std::string> args = {options.hook_path};
  if (!options.admin_config_path.empty() && options.admin_config_path != kDefaultAdminConfigPath) {
    args.insert(args.end(), {"--config", options.admin_config_path});
  }
  args.push_back(stage);
  if (!edit.config.contains("hooks") || !edit.config["hooks"].is_object()) {
    edit.config["hooks"] = json::object();
  }
  json& hooks = ArrayAt(edit.config["hooks"], stage);
  for (const json& hook : hooks) {
    if (hook.is_object() && hook.value("path", "") == options.hook_path) return;
  }
  hooks.push_back({{"path", options.hook_path}, {"args", args}});
  edit.changes.push_back(absl::StrCat("+ hooks.", stage, ": ", absl::StrJoin(args, " ")));
}

void SetEnv(ConfigEdit& edit, const std::string& entry) {
  json& process = edit.config["process"];
  if (!process.is_object()) process = json::object();
  json& env = ArrayAt(process, "env");
  const std::string prefix = entry.substr(0, entry.find('=') + 1);
  for (json& item : env) {
    if (!item.is_string() || !absl::StartsWith(item.get<std::string>(), prefix)) continue;
    if (item.get<std::string>() == entry) return;
    edit.changes.push_back(absl::StrCat("~ process.env: ", item.get<std::string>(), " -> ", entry));
    item = entry;
    return;
  }
  env.push_back(entry);
  edit.changes.push_back(absl::StrCat("+ process.env: ", entry));
}

bool EnvHas(const json& config, const std::string& key) {
  if (!config.contains("process") || !config["process"].is_object()) return false;
  const json& env = config["process"].value("env", json::array());
  return std::any_of(env.begin(), env.end(), [&](const json& item) {
    return item.is_string() && absl::StartsWith(item.get<std::string>(), key + "=");
  });
}

// The app runs under pmi-shim-client only when the client can be there (the
// tools mount) and has something to connect to (the rank directory).
void PrefixEntrypoint(ConfigEdit& edit) {
  if (!HasMountAt(ArrayAt(edit.config, "mounts"), rendezvous::kContainerToolsDir)) return;
  if (!EnvHas(edit.config, rendezvous::kDirVariable)) return;
  json& process = edit.config["process"];
  if (!process.contains("args") || !process["args"].is_array() || process["args"].empty()) return;
  json& args = process["args"];
  if (args[0] == kClientPath) return;
  json prefixed = json::array({kClientPath, "exec", "--"});
  for (const json& arg : args) prefixed.push_back(arg);
  edit.changes.push_back(absl::StrCat("~ process.args: ", args.dump(), " -> ", prefixed.dump()));
  args = std::move(prefixed);
}

}  // namespace

RuntimeCall ParseRuntimeArgs(const std::vector<std::string>& args) {
  RuntimeCall call;
  size_t i = SkipOptions(args, 0, kGlobalValueOptions,
                         [&call](const std::string& name, const std::string& value) {
                           if (name == "log") call.log_path = value;
                           if (name == "log-format") call.log_format = value;
                         });
  if (i >= args.size()) return call;
  call.subcommand = args[i++];
  if (!CreatesContainer(call)) return call;
  i = SkipOptions(args, i, kCreateValueOptions,
                  [&call](const std::string& name, const std::string& value) {
                    if (name == "bundle" || name == "b") call.bundle = value;
                  });
  if (i < args.size()) call.container_id = args[i];
  return call;
}

bool CreatesContainer(const RuntimeCall& call) {
  return call.subcommand == "create" || call.subcommand == "run";
}

ConfigEdit EditConfigForPlan(const json& config, const Plan& plan,
                             const ConfigEditOptions& options) {
  ConfigEdit edit{config, {}};
  AddMounts(edit, plan);
  if (!plan.relays.empty()) {
    AddHook(edit, "createRuntime", options);
    AddHook(edit, "poststop", options);
  }
  for (const std::string& entry : plan.env) SetEnv(edit, entry);
  if (options.entrypoint_prefix) PrefixEntrypoint(edit);
  return edit;
}

absl::Status ReplaceFileAtomically(const std::string& path, const std::string& content) {
  struct stat info {};
  if (::stat(path.c_str(), &info) != 0) return absl::ErrnoToStatus(errno, "cannot stat " + path);
  const std::string temporary = absl::StrCat(path, ".pmi-shim.", ::getpid());
  UniqueFd fd(::open(temporary.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW,
                     info.st_mode & 07777));
  if (!fd.valid()) return absl::ErrnoToStatus(errno, "cannot create " + temporary);
  absl::string_view rest = content;
  while (!rest.empty()) {
    ssize_t n = ::write(fd.get(), rest.data(), rest.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      absl::Status failed = absl::ErrnoToStatus(errno, "cannot write " + temporary);
      ::unlink(temporary.c_str());
      return failed;
    }
    rest.remove_prefix(static_cast<size_t>(n));
  }
  if (::fsync(fd.get()) != 0 || ::rename(temporary.c_str(), path.c_str()) != 0) {
    absl::Status failed = absl::ErrnoToStatus(errno, "cannot replace " + path);
    ::unlink(temporary.c_str());
    return failed;
  }
  return absl::OkStatus();
}

}  // namespace pmi_shim::hook
