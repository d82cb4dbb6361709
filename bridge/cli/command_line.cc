#include "bridge/cli/command_line.h"

#include <iostream>

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

std::optional<int> ParseVerbOptions(absl::string_view verb, const std::vector<std::string>& options,
                                    boost::program_options::options_description& description,
                                    absl::string_view usage) {
  namespace po = boost::program_options;
  description.add_options()("help,h", "show this help");
  try {
    po::variables_map values;
    po::store(po::command_line_parser(options).options(description).run(), values);
    if (values.count("help") != 0) {
      std::cout << usage << "\n" << description << "\n";
      return 0;
    }
    po::notify(values);
  } catch (const po::error& error) {
    return UsageError(verb, error.what());
  }
  return std::nullopt;
}

}  // namespace pmi_shim::cli
