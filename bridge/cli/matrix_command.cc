#include "bridge/cli/matrix_command.h"

#include <iostream>

#include "bridge/cli/command_line.h"
#include "bridge/diagnose/matrix.h"

namespace pmi_shim::cli {

int RunMatrixCommand(const std::vector<std::string>& args) {
  bool json = false;
  for (const std::string& arg : args) {
    if (arg == "--help" || arg == "-h") {
      std::cout
          << "Usage: pmi-bridge matrix [--json]\n\nPrints the translation matrix as built (each "
             "cell: "
             "supported, how, which real-peer tests cover it) and the PMIx cross-version facts.\n";
      return 0;
    }
    if (arg != "--json") return UsageError("matrix", "unknown option " + arg);
    json = true;
  }
  if (json) {
    std::cout << diagnose::MatrixToJson().dump(2) << "\n";
  } else {
    std::cout << diagnose::FormatMatrix();
  }
  return 0;
}

}  // namespace pmi_shim::cli
