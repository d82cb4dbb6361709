// `pmi-shim-hook runtime [--runtime PATH] [--config F] -- RUNC-ARGS...`: the
// runtime wrapper Docker's daemon.json names. On `create`/`run` of a bundle
// whose config asks for pmi-shim it edits config.json (runtime_wrapper.h);
// every call then becomes the real runtime (execve, same arguments).
#ifndef PMI_SHIM_HOOK_RUNTIME_COMMAND_H_
#define PMI_SHIM_HOOK_RUNTIME_COMMAND_H_

#include <string>
#include <vector>

namespace pmi_shim::hook {

inline constexpr char kDefaultRuntime[] = "/usr/bin/runc";

// `args` excludes "runtime"; `environment` is passed on to the runtime
// unchanged. Returns only on failure (1: config edit failed, nothing run;
// 2: bad command line; 127: the runtime could not be executed).
int RunRuntimeCommand(const std::vector<std::string>& args, char** environment);

}  // namespace pmi_shim::hook

#endif  // PMI_SHIM_HOOK_RUNTIME_COMMAND_H_
