// `pmi-bridge env`: the flags and command prefix to add to an Apptainer,
// Singularity, Charliecloud, Podman or Docker command line by hand, for
// users who write the engine command themselves (pmi-bridge exec adds them
// on its own when it recognises the engine).
#ifndef PMI_SHIM_BRIDGE_CLI_ENV_COMMAND_H_
#define PMI_SHIM_BRIDGE_CLI_ENV_COMMAND_H_

#include <string>
#include <vector>

namespace pmi_shim::cli {

// `args` are the words after "env". Returns the process exit status.
int RunEnvCommand(const std::vector<std::string>& args);

}  // namespace pmi_shim::cli

#endif  // PMI_SHIM_BRIDGE_CLI_ENV_COMMAND_H_
