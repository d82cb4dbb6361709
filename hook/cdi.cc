#include "hook/cdi.h"

#include "common/rendezvous.h"

namespace pmi_shim::hook {

nlohmann::json MakeCdiSpec(const std::string& prefix) {
  using nlohmann::json;
  const std::string hook = prefix + "/bin/pmi-shim-hook";
  json mount = {{"hostPath", prefix},
                {"containerPath", rendezvous::kContainerToolsDir},
                {"type", "bind"},
                {"options", {"bind", "ro", "nosuid", "nodev"}}};
  json hooks = json::array();
  for (const char* stage : {"createRuntime", "poststop"}) {
    hooks.push_back({{"hookName", stage}, {"path", hook}, {"args", {"pmi-shim-hook", stage}}});
  }
  json device = {{"name", kCdiDevice},
                 {"containerEdits", {{"mounts", json::array({mount})}, {"hooks", hooks}}}};
  return {{"cdiVersion", kCdiVersion}, {"kind", kCdiKind}, {"devices", json::array({device})}};
}

}  // namespace pmi_shim::hook
