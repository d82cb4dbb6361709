// `pmi-bridge node-server`: the node's PMIx server for one job (flow 4),
// started by the first `pmi-bridge exec` of a node (bridge/node); not meant
// to be run by hand.
#ifndef PMI_SHIM_BRIDGE_CLI_NODE_SERVER_COMMAND_H_
#define PMI_SHIM_BRIDGE_CLI_NODE_SERVER_COMMAND_H_

#include <string>
#include <vector>

namespace pmi_shim::cli {

int RunNodeServerCommand(const std::vector<std::string>& args);

}  // namespace pmi_shim::cli

#endif  // PMI_SHIM_BRIDGE_CLI_NODE_SERVER_COMMAND_H_
