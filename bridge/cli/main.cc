// pmi-bridge: the PMI translation bridge and its tools. Dispatches verbs.
#include <iostream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "bridge/cli/command_line.h"
#include "bridge/cli/diagnose_command.h"
#include "bridge/cli/env_command.h"
#include "bridge/cli/exec_command.h"
#include "bridge/cli/launch_command.h"
#include "bridge/cli/matrix_command.h"
#include "bridge/cli/node_server_command.h"
#include "bridge/cli/probe_command.h"
#include "bridge/cli/trace_command.h"
#include "common/log.h"

namespace {

struct Verb {
  const char* name;
  const char* summary;
  int (*run)(const std::vector<std::string>& args);
};

constexpr Verb kVerbs[] = {
    {"launch", "run N ranks on this machine with pmi-bridge as their PMI server",
     pmi_shim::cli::RunLaunchCommand},
    {"exec", "bridge one rank of a real launcher's job to COMMAND's PMI client",
     pmi_shim::cli::RunExecCommand},
    {"diagnose", "say whether a host PMI server and an image's PMI client can meet, and the fix",
     pmi_shim::cli::RunDiagnoseCommand},
    {"trace", "run COMMAND under the host's PMI server and print every message decoded",
     pmi_shim::cli::RunTraceCommand},
    {"probe", "handshake with a PMI server and report protocol, version, limits, identity",
     pmi_shim::cli::RunProbeCommand},
    {"matrix", "what translates to what, and the PMIx cross-version facts",
     pmi_shim::cli::RunMatrixCommand},
    {"env", "print the flags to add to an apptainer/ch-run/podman command line by hand",
     pmi_shim::cli::RunEnvCommand},
    {"node-server", "internal: a node's PMIx server for one job, started by exec",
     pmi_shim::cli::RunNodeServerCommand},
};

void PrintUsage(std::ostream& out) {
  out << "Usage: pmi-bridge VERB [options]\n\nVerbs:\n";
  for (const Verb& verb : kVerbs) out << "  " << verb.name << "\t" << verb.summary << "\n";
  out << "\nRun 'pmi-bridge VERB --help' for a verb's options.\n";
}

}  // namespace

int main(int argc, char** argv) {
  pmi_shim::log::Init("pmi-bridge");
  if (argc < 2 || std::string(argv[1]) == "--help" || std::string(argv[1]) == "-h") {
    PrintUsage(argc < 2 ? std::cerr : std::cout);
    return argc < 2 ? pmi_shim::cli::kUsageError : 0;
  }
  const std::string name = argv[1];
  for (const Verb& verb : kVerbs) {
    if (name == verb.name) return verb.run(std::vector<std::string>(argv + 2, argv + argc));
  }
  std::string known;
  for (const Verb& verb : kVerbs) absl::StrAppend(&known, known.empty() ? "" : ", ", verb.name);
  pmi_shim::log::Error(absl::StrCat("unknown verb '", name, "'; this build offers: ", known,
                                    " (run 'pmi-bridge --help')"));
  return pmi_shim::cli::kUsageError;
}
