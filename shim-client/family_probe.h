// The side of pmi-shim-client that looks before it chooses: what the
// program to run links, what MPI the image holds (both read from this
// container's files, nothing is run), and the one request it may make to
// the bridge on the rank directory's request.sock (common/rendezvous.h).
// The choice itself is pure (exec_plan.h: ChooseFamily).
#ifndef PMI_SHIM_SHIM_CLIENT_FAMILY_PROBE_H_
#define PMI_SHIM_SHIM_CLIENT_FAMILY_PROBE_H_

#include <string>

#include "absl/status/statusor.h"
#include "common/rendezvous.h"
#include "image/client_detection.h"
#include "shim-client/exec_plan.h"

namespace pmi_shim::shim_client {

// `command` resolved through the environment's PATH, then read with
// image::DetectClientFamilyDeep.
image::ClientEvidence ProgramEvidence(const std::string& command, const Environ& environment);

// What the image's MPI speaks (bridge/diagnose/image_scan.h on "/"); no
// family when the image holds none (or several that disagree).
image::ClientEvidence ImageEvidence();

// Asks the bridge for `what` ("pmi" or "pmix") on DIR/request.sock and
// returns the entries to add to the env file's.
absl::StatusOr<rendezvous::EnvEntries> AskBridge(const std::string& dir, const char* what);

}  // namespace pmi_shim::shim_client

#endif  // PMI_SHIM_SHIM_CLIENT_FAMILY_PROBE_H_
