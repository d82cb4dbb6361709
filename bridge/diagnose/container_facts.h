// ContainerFacts: what an OCI bundle's config.json says about the boundary
// a PMI rendezvous must cross (network namespace, user namespace, IPC).
// Pure: ParseContainerFacts takes the JSON text.
#ifndef PMI_SHIM_BRIDGE_DIAGNOSE_CONTAINER_FACTS_H_
#define PMI_SHIM_BRIDGE_DIAGNOSE_CONTAINER_FACTS_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "nlohmann/json.hpp"

namespace pmi_shim::diagnose {

struct ContainerFacts {
  bool known = false;  // false: no bundle was given, everything below is a guess
  // "host" (no network namespace in the config), "private" (a new one),
  // "joined" (an existing one by path), "unknown".
  std::string network = "unknown";
  bool user_namespace = false;
  // A user namespace whose uid/gid mapping does not send the container's
  // uid to the same host uid: PMIx `native` credentials then differ (§4.5).
  bool uid_remapped = false;
  bool private_ipc = false;
  int process_uid = -1;  // process.user.uid
};

absl::StatusOr<ContainerFacts> ParseContainerFacts(absl::string_view config_json);

nlohmann::json ContainerFactsToJson(const ContainerFacts& facts);

}  // namespace pmi_shim::diagnose

#endif  // PMI_SHIM_BRIDGE_DIAGNOSE_CONTAINER_FACTS_H_
