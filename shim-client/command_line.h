// pmi-shim-client's command line: verbs and their options. Pure parsing;
// main.cc runs the verbs. Hand-written rather than Boost.Program_options to
// keep the static binary small (it is bind-mounted into every container).
//
//   pmi-shim-client exec [--dir D] [--strict] [-v] -- CMD ARGS...
//   pmi-shim-client check [--dir D] [--json] [--strict] [--timeout S] [-v]
//   pmi-shim-client inspect [ROOT] [--json]
#ifndef PMI_SHIM_SHIM_CLIENT_COMMAND_LINE_H_
#define PMI_SHIM_SHIM_CLIENT_COMMAND_LINE_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace pmi_shim::shim_client {

enum class Verb { kHelp, kExec, kCheck, kInspect };

struct CommandLine {
  Verb verb = Verb::kHelp;
  bool help = false;  // --help given for `verb`
  std::string dir;    // --dir
  bool json = false;
  bool strict = false;
  int verbosity = 0;
  absl::Duration timeout = absl::Seconds(10);  // check: per reply
  std::string root = "/";                      // inspect
  std::vector<std::string> command;            // exec
};

// Parses argv[1..]. Errors are one line saying what is wrong.
absl::StatusOr<CommandLine> ParseCommandLine(const std::vector<std::string>& args);

// Usage text: the overview for Verb::kHelp, else the verb's own.
std::string Usage(Verb verb);

}  // namespace pmi_shim::shim_client

#endif  // PMI_SHIM_SHIM_CLIENT_COMMAND_LINE_H_
