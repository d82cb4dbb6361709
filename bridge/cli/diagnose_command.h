// `pmi-bridge diagnose`: host server vs image client, verdict and fix.
#ifndef PMI_SHIM_BRIDGE_CLI_DIAGNOSE_COMMAND_H_
#define PMI_SHIM_BRIDGE_CLI_DIAGNOSE_COMMAND_H_

#include <string>
#include <vector>

namespace pmi_shim::cli {

int RunDiagnoseCommand(const std::vector<std::string>& args);

}  // namespace pmi_shim::cli

#endif  // PMI_SHIM_BRIDGE_CLI_DIAGNOSE_COMMAND_H_
