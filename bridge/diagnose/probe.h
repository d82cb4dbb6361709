// Probe: one handshake with a PMI server, reporting what it says about
// itself and the job. `pmi-bridge probe` prints it.
//
// The PMI wire (PMI_FD, PMI_PORT, a Unix socket speaking the PMI wire such
// as a pmi-bridge per-rank socket) goes through upstream::PmiWireHost, the
// same code `pmi-bridge exec` uses, then finalizes cleanly so the launcher
// does not end the job. PMIx goes through upstream::PmixClientHost (libpmix
// as a client: the process must be one of the job's ranks).
#ifndef PMI_SHIM_BRIDGE_DIAGNOSE_PROBE_H_
#define PMI_SHIM_BRIDGE_DIAGNOSE_PROBE_H_

#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "bridge/upstream/host_endpoint.h"
#include "nlohmann/json.hpp"

namespace pmi_shim::diagnose {

struct ProbeTarget {
  // Empty: from the environment (DetectHostEndpoint rules).
  std::optional<std::string> pmi_port;  // HOST:PORT
  std::optional<int> pmi_id;            // identity for initack (default PMI_ID/PMI_RANK or 0)
  std::optional<int> pmi_fd;
  std::optional<std::string> socket_path;
  std::optional<std::string> pmix_uri;  // sets PMIX_SERVER_URI* for libpmix
  std::string protocol = "auto";        // auto|pmi1|pmi2 for the PMI wire
};

struct ProbeReport {
  std::string protocol;        // "PMI-1", "PMI-2", "PMIx"
  std::string server_version;  // "1.2" (response_to_init), "4.2.2rc2" (PMIX_VERSION)
  std::string client_library;  // PMIx: the libpmix version used to probe
  std::string rendezvous;      // "PMI_PORT=..."
  std::string kvsname;         // or nspace
  int rank = -1;
  int size = 0;
  int universe_size = 0;
  int appnum = 0;
  std::optional<std::string> process_mapping;
  int kvsname_max = 0, keylen_max = 0, vallen_max = 0;
};

absl::StatusOr<ProbeReport> Probe(const upstream::Environment& env, const ProbeTarget& target);

std::string FormatProbeReport(const ProbeReport& report);
nlohmann::json ProbeReportToJson(const ProbeReport& report);

}  // namespace pmi_shim::diagnose

#endif  // PMI_SHIM_BRIDGE_DIAGNOSE_PROBE_H_
