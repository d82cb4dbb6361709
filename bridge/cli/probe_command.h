// `pmi-bridge probe`: handshake with a PMI server and report what it says.
#ifndef PMI_SHIM_BRIDGE_CLI_PROBE_COMMAND_H_
#define PMI_SHIM_BRIDGE_CLI_PROBE_COMMAND_H_

#include <string>
#include <vector>

namespace pmi_shim::cli {

int RunProbeCommand(const std::vector<std::string>& args);

}  // namespace pmi_shim::cli

#endif  // PMI_SHIM_BRIDGE_CLI_PROBE_COMMAND_H_
