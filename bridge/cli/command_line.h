// Helpers shared by the pmi-bridge verbs: the "OPTIONS -- COMMAND" split
// and uniform usage errors.
#ifndef PMI_SHIM_BRIDGE_CLI_COMMAND_LINE_H_
#define PMI_SHIM_BRIDGE_CLI_COMMAND_LINE_H_

#include <boost/program_options.hpp>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"

namespace pmi_shim::cli {

// Exit status for a command line that could not be understood.
inline constexpr int kUsageError = 2;

struct SplitCommandLine {
  std::vector<std::string> options;  // before "--"
  std::vector<std::string> command;  // after "--"
  bool has_separator = false;
};

SplitCommandLine SplitAtSeparator(const std::vector<std::string>& args);

// Prints "PROGRAM VERB: problem; run 'PROGRAM VERB --help'" and returns
// kUsageError.
int UsageError(absl::string_view verb, absl::string_view problem);

// Parses a verb's `options` against `description`, to which it adds
// -h/--help. Returns the exit status when the verb is done already: 0 after
// printing `usage` and the options for --help (before required options are
// checked), kUsageError after a one-line error; nullopt to go on.
std::optional<int> ParseVerbOptions(absl::string_view verb, const std::vector<std::string>& options,
                                    boost::program_options::options_description& description,
                                    absl::string_view usage);

}  // namespace pmi_shim::cli

#endif  // PMI_SHIM_BRIDGE_CLI_COMMAND_LINE_H_
