#include "bridge/cli/probe_command.h"

#include <boost/program_options.hpp>
#include <iostream>

#include "absl/strings/str_cat.h"
#include "bridge/cli/command_line.h"
#include "bridge/diagnose/host_env_source.h"
#include "bridge/diagnose/probe.h"
#include "common/log.h"

namespace pmi_shim::cli {
namespace po = boost::program_options;

namespace {
constexpr char kUsage[] =
    "Usage: pmi-bridge probe [--pmi-port HOST:PORT [--pmi-id N] | --pmi-fd N | --socket PATH |\n"
    "                         --pmix-uri URI] [--protocol auto|pmi1|pmi2] [--json]\n"
    "\n"
    "Handshakes with a PMI server (default: the one this environment names) and\n"
    "reports protocol, version, limits, kvsname/nspace, rank, size and process\n"
    "mapping, then finalizes cleanly. Run it as a rank of the job (e.g.\n"
    "'mpiexec.hydra -n 2 pmi-bridge probe').\n";
}  // namespace

int RunProbeCommand(const std::vector<std::string>& args) {
  diagnose::ProbeTarget target;
  std::string pmi_port, socket_path, pmix_uri;
  int pmi_fd = -1, pmi_id = -1;
  bool json = false;
  po::options_description description("Options");
  description.add_options()("pmi-port", po::value<std::string>(&pmi_port),
                            "a PMI_PORT server at HOST:PORT")(
      "pmi-id", po::value<int>(&pmi_id), "identity for the PMI_PORT handshake / rank for --pmi-fd")(
      "pmi-fd", po::value<int>(&pmi_fd), "an inherited, connected PMI socket")(
      "socket", po::value<std::string>(&socket_path), "a Unix socket that speaks the PMI wire")(
      "pmix-uri", po::value<std::string>(&pmix_uri),
      "a PMIx server URI (nspace.rank;tcp4://IP:PORT); needs PMIX_NAMESPACE/PMIX_RANK")(
      "protocol", po::value<std::string>(&target.protocol), "PMI wire protocol: auto|pmi1|pmi2")(
      "json", po::bool_switch(&json), "machine-readable output");
  if (std::optional<int> done = ParseVerbOptions("probe", args, description, kUsage)) {
    return *done;
  }
  if (target.protocol != "auto" && target.protocol != "pmi1" && target.protocol != "pmi2") {
    return UsageError("probe", "--protocol must be auto, pmi1 or pmi2");
  }
  if (!pmi_port.empty()) target.pmi_port = pmi_port;
  if (pmi_fd >= 0) target.pmi_fd = pmi_fd;
  if (pmi_id >= 0) target.pmi_id = pmi_id;
  if (!socket_path.empty()) target.socket_path = socket_path;
  if (!pmix_uri.empty()) target.pmix_uri = pmix_uri;
  absl::StatusOr<diagnose::ProbeReport> report =
      diagnose::Probe(diagnose::OwnEnvironment(), target);
  if (!report.ok()) {
    log::Error(std::string(report.status().message()));
    return 1;
  }
  if (json) {
    std::cout << diagnose::ProbeReportToJson(*report).dump() << "\n";
  } else {
    std::cout << diagnose::FormatProbeReport(*report);
  }
  return 0;
}

}  // namespace pmi_shim::cli
