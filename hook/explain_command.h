// `pmi-shim-hook explain --bundle DIR [--state FILE] [--config F] [--json]`:
// a dry run of the hook on a bundle. Prints the decision, the plan and the
// config.json changes runtime mode would make; changes nothing.
#ifndef PMI_SHIM_HOOK_EXPLAIN_COMMAND_H_
#define PMI_SHIM_HOOK_EXPLAIN_COMMAND_H_

#include <string>
#include <vector>

namespace pmi_shim::hook {

// `args` excludes "explain". Exit 0 when explained (asked or not), 1 when
// an input is unreadable, 2 on a bad command line.
int RunExplainCommand(const std::vector<std::string>& args);

}  // namespace pmi_shim::hook

#endif  // PMI_SHIM_HOOK_EXPLAIN_COMMAND_H_
