// `pmi-bridge exec`: command-line parsing for the per-rank bridge.
#ifndef PMI_SHIM_BRIDGE_CLI_EXEC_COMMAND_H_
#define PMI_SHIM_BRIDGE_CLI_EXEC_COMMAND_H_

#include <string>
#include <vector>

namespace pmi_shim::cli {

// `args` are the words after "exec". Returns the process exit status.
int RunExecCommand(const std::vector<std::string>& args);

}  // namespace pmi_shim::cli

#endif  // PMI_SHIM_BRIDGE_CLI_EXEC_COMMAND_H_
