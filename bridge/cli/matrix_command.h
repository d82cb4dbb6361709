// `pmi-bridge matrix`: what translates to what, and the PMIx version facts.
#ifndef PMI_SHIM_BRIDGE_CLI_MATRIX_COMMAND_H_
#define PMI_SHIM_BRIDGE_CLI_MATRIX_COMMAND_H_

#include <string>
#include <vector>

namespace pmi_shim::cli {

int RunMatrixCommand(const std::vector<std::string>& args);

}  // namespace pmi_shim::cli

#endif  // PMI_SHIM_BRIDGE_CLI_MATRIX_COMMAND_H_
