// `pmi-shim-hook cdi [--prefix DIR] [--output FILE]`: writes the CDI spec of
// cdi.h (to /etc/cdi/pmi-shim.json, say) for `--device pmi-shim.org/shim=tools`.
#ifndef PMI_SHIM_HOOK_CDI_COMMAND_H_
#define PMI_SHIM_HOOK_CDI_COMMAND_H_

#include <string>
#include <vector>

namespace pmi_shim::hook {

int RunCdiCommand(const std::vector<std::string>& args);

}  // namespace pmi_shim::hook

#endif  // PMI_SHIM_HOOK_CDI_COMMAND_H_
