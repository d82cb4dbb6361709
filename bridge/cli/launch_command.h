// `pmi-bridge launch`: command-line parsing for the embedded process manager.
#ifndef PMI_SHIM_BRIDGE_CLI_LAUNCH_COMMAND_H_
#define PMI_SHIM_BRIDGE_CLI_LAUNCH_COMMAND_H_

#include <string>
#include <vector>

namespace pmi_shim::cli {

// `args` are the words after "launch". Returns the process exit status.
int RunLaunchCommand(const std::vector<std::string>& args);

}  // namespace pmi_shim::cli

#endif  // PMI_SHIM_BRIDGE_CLI_LAUNCH_COMMAND_H_
