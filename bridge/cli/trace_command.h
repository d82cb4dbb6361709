// `pmi-bridge trace`: a decoded live transcript between COMMAND and its server.
#ifndef PMI_SHIM_BRIDGE_CLI_TRACE_COMMAND_H_
#define PMI_SHIM_BRIDGE_CLI_TRACE_COMMAND_H_

#include <string>
#include <vector>

namespace pmi_shim::cli {

int RunTraceCommand(const std::vector<std::string>& args);

}  // namespace pmi_shim::cli

#endif  // PMI_SHIM_BRIDGE_CLI_TRACE_COMMAND_H_
