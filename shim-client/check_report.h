// What `pmi-shim-client check` found, and how it is printed: one summary
// line (or a JSON object) plus one line per finding. Pure.
#ifndef PMI_SHIM_SHIM_CLIENT_CHECK_REPORT_H_
#define PMI_SHIM_SHIM_CLIENT_CHECK_REPORT_H_

#include <optional>
#include <string>
#include <vector>

#include "nlohmann/json.hpp"
#include "shim-client/environment_checks.h"

namespace pmi_shim::shim_client {

struct CheckReport {
  // "pmi-socket", "pmix", "direct", "none".
  std::string mode = "none";
  std::string dir;       // the rendezvous directory, when found
  std::string protocol;  // pmi1 | pmi2 | pmi | pmix
  std::string via;       // socket or URI the check went through
  std::optional<int> rank;
  std::optional<int> size;
  std::string wire;                // "PMI-1 (wire 1.1)", "PMIx"
  std::string kvsname;             // PMI kvsname / PMI-2 jobid / PMIx namespace
  std::vector<std::string> notes;  // e.g. "server port unreachable; exec relays via pmix.sock"
  std::string error;               // why the handshake failed ("" if it did not)
  std::vector<Finding> findings;

  // Ready: no handshake error and no fatal finding (nor, with strict, any).
  bool Ok(bool strict) const;
};

// The summary line, e.g. "rank 2 of 4, PMI-1 (wire 1.1) through
// /run/pmi-shim/pmi.sock, kvsname kvs_123, job ready".
std::string FormatSummary(const CheckReport& report);

nlohmann::json CheckReportToJson(const CheckReport& report, bool strict);

}  // namespace pmi_shim::shim_client

#endif  // PMI_SHIM_SHIM_CLIENT_CHECK_REPORT_H_
