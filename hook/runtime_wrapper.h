// Runtime-wrapper mode (Docker's daemon.json "runtimes"): pmi-shim-hook stands
// in for runc, and on `create`/`run` edits the bundle's config.json so runc
// itself makes the plan's mounts, then execs the real runtime with the
// unchanged arguments. This file holds the pure parts: finding the subcommand
// and bundle among runc's arguments, and the config.json edit.
#ifndef PMI_SHIM_HOOK_RUNTIME_WRAPPER_H_
#define PMI_SHIM_HOOK_RUNTIME_WRAPPER_H_

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "hook/plan.h"

namespace pmi_shim::hook {

// What a runc command line asks for, as far as the wrapper cares.
struct RuntimeCall {
  std::string subcommand;    // "" when none was found (e.g. `runc --version`)
  std::string bundle;        // create/run: --bundle/-b, "" = the current directory
  std::string container_id;  // first operand after the subcommand's options
  std::string log_path;      // global --log (containerd reads errors from it)
  std::string log_format;    // global --log-format
};

RuntimeCall ParseRuntimeArgs(const std::vector<std::string>& runc_args);

// True for the subcommands that create a container from a bundle.
bool CreatesContainer(const RuntimeCall& call);

inline constexpr char kClientPath[] = "/opt/pmi-shim/bin/pmi-shim-client";

struct ConfigEditOptions {
  std::string hook_path;          // this binary, for the relay hooks
  std::string admin_config_path;  // passed on to the hooks when not the default
  bool entrypoint_prefix = false;
};

struct ConfigEdit {
  nlohmann::json config;
  std::vector<std::string> changes;  // one human-readable line per change
};

// Adds the plan's mounts as OCI bind mounts, hook entries for what only a
// hook can do (relays into the container's network namespace), the plan's
// env, and optionally the pmi-shim-client entrypoint prefix. Idempotent:
// running it on its own output changes nothing.
ConfigEdit EditConfigForPlan(const nlohmann::json& config, const Plan& plan,
                             const ConfigEditOptions& options);

// Writes `content` to a temporary file next to `path` with `path`'s mode, then
// renames it over `path`, so runc never sees a half-written config.
absl::Status ReplaceFileAtomically(const std::string& path, const std::string& content);

}  // namespace pmi_shim::hook

#endif  // PMI_SHIM_HOOK_RUNTIME_WRAPPER_H_
