// A CDI (Container Device Interface) spec for engines that inject CDI
// devices (`podman run --device pmi-shim.org/shim=tools`): the static part
// of pmi-shim's work, i.e. the tools dir mounted read-only at /opt/pmi-shim
// and pmi-shim-hook as createRuntime/poststop hook for the per-job rest.
#ifndef PMI_SHIM_HOOK_CDI_H_
#define PMI_SHIM_HOOK_CDI_H_

#include <nlohmann/json.hpp>
#include <string>

namespace pmi_shim::hook {

inline constexpr char kCdiKind[] = "pmi-shim.org/shim";
inline constexpr char kCdiDevice[] = "tools";
// The oldest version whose fields we use; Podman 4.3 reads it.
inline constexpr char kCdiVersion[] = "0.5.0";

// `prefix`: the install prefix (holds bin/pmi-shim-hook and bin/pmi-shim-client).
nlohmann::json MakeCdiSpec(const std::string& prefix);

}  // namespace pmi_shim::hook

#endif  // PMI_SHIM_HOOK_CDI_H_
