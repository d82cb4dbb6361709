#include "bridge/cli/command_line.h"

#include "absl/strings/str_cat.h"
#include "common/log.h"

namespace pmi_shim::cli {

SplitCommandLine SplitAtSeparator(const std::vector<std::string>& args) {
  SplitCommandLine split;
  for (const std::string& arg : args) {
    if (!split.has_separator && arg == "--") {
      split.has_separator = true;
    } else if (split.has_separator) {
      split.command.push_back(arg);
    } else {
      split.options.push_back(arg);
    }
  }
  return split;
}

int UsageError(absl::string_view verb, absl::string_view problem) {
  log::Error(absl::StrCat(verb, ": ", problem, "; run '", log::ProgramName(), " ", verb,
                          " --help' for usage"));
  return kUsageError;
}

}  // namespace pmi_shim::cli
