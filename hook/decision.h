// Does a container ask for pmi-shim? Decided from its config.json alone
// (annotations and process.env), never from the hook's own environment, and
// cheaply: this runs for every container the engine starts.
#ifndef PMI_SHIM_HOOK_DECISION_H_
#define PMI_SHIM_HOOK_DECISION_H_

#include <string>

#include "hook/admin_config.h"
#include "hook/oci_config.h"

namespace pmi_shim::hook {

inline constexpr char kEnableAnnotation[] = "org.pmi-shim.enable";
inline constexpr char kEnableVariable[] = "PMI_SHIM";

struct Decision {
  bool asked = false;
  std::string why;  // one line for explain and the log
};

// Order: an explicit annotation (yes or no) wins, then PMI_SHIM=1/0, then
// the "auto" signs of a PMI rendezvous in process.env. Each channel can be
// switched off by the administrator.
Decision Decide(const ContainerConfig& config, const Gating& gating);

// One line for the hook's log when process.env carries an inherited PMI_FD
// but no PMI_SHIM_DIR: the fd number was copied into the container (by a
// wrapper that passes the host environment through: podman --env-host,
// sarus, shifter, a site script) but the socket behind it did not cross, so
// the MPI library would fail with "Bad file descriptor" or start alone.
// Empty when the container is not in that state.
std::string StrandedPmiFdNote(const ContainerConfig& config);

// True for PMIX_SERVER_URI and its versioned forms (URI2, URI21, URI4...).
bool IsPmixServerUriName(const std::string& name);

}  // namespace pmi_shim::hook

#endif  // PMI_SHIM_HOOK_DECISION_H_
