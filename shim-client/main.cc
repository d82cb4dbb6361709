// pmi-shim-client: the static helper that runs inside a container (see
// command_line.h for the verbs).
#include <iostream>
#include <string>
#include <vector>

#include "common/log.h"
#include "shim-client/command_line.h"
#include "shim-client/verbs.h"

int main(int argc, char** argv) {
  using namespace pmi_shim::shim_client;
  pmi_shim::log::Init("pmi-shim-client");
  const std::vector<std::string> args(argv + 1, argv + argc);
  absl::StatusOr<CommandLine> line = ParseCommandLine(args);
  if (!line.ok()) {
    pmi_shim::log::Error(line.status().message());
    return 2;
  }
  if (line->help) {
    std::cout << Usage(line->verb);
    return 0;
  }
  pmi_shim::log::SetVerbosity(line->verbosity);
  switch (line->verb) {
    case Verb::kExec:
      return RunExec(*line);
    case Verb::kCheck:
      return RunCheck(*line);
    case Verb::kInspect:
      return RunInspect(*line);
    case Verb::kHelp:
      break;
  }
  std::cout << Usage(Verb::kHelp);
  return 0;
}
