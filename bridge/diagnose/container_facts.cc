#include "bridge/diagnose/container_facts.h"

namespace pmi_shim::diagnose {

absl::StatusOr<ContainerFacts> ParseContainerFacts(absl::string_view config_json) {
  nlohmann::json config = nlohmann::json::parse(config_json.begin(), config_json.end(), nullptr,
                                                /*allow_exceptions=*/false);
  if (config.is_discarded() || !config.is_object()) {
    return absl::InvalidArgumentError("config.json is not a JSON object");
  }
  ContainerFacts facts;
  facts.known = true;
  facts.network = "host";
  const nlohmann::json* linux_section = config.contains("linux") ? &config["linux"] : nullptr;
  if (linux_section != nullptr && linux_section->is_object()) {
    auto namespaces = linux_section->find("namespaces");
    if (namespaces != linux_section->end() && namespaces->is_array()) {
      for (const nlohmann::json& ns : *namespaces) {
        if (!ns.is_object() || !ns.contains("type") || !ns["type"].is_string()) continue;
        const std::string type = ns["type"].get<std::string>();
        const bool joined =
            ns.contains("path") && ns["path"].is_string() && !ns["path"].get<std::string>().empty();
        if (type == "network") facts.network = joined ? "joined" : "private";
        if (type == "user") facts.user_namespace = true;
        if (type == "ipc" && !joined) facts.private_ipc = true;
      }
    }
    for (const char* key : {"uidMappings", "gidMappings"}) {
      auto mappings = linux_section->find(key);
      if (mappings == linux_section->end() || !mappings->is_array()) continue;
      for (const nlohmann::json& m : *mappings) {
        if (!m.is_object()) continue;
        const auto container_id = m.value("containerID", int64_t{-1});
        const auto host_id = m.value("hostID", int64_t{-1});
        if (container_id != host_id) facts.uid_remapped = true;
      }
    }
  }
  if (config.contains("process") && config["process"].is_object()) {
    const nlohmann::json& process = config["process"];
    if (process.contains("user") && process["user"].is_object()) {
      facts.process_uid = static_cast<int>(process["user"].value("uid", int64_t{-1}));
    }
  }
  return facts;
}

nlohmann::json ContainerFactsToJson(const ContainerFacts& f) {
  return {{"known", f.known},
          {"network", f.network},
          {"user_namespace", f.user_namespace},
          {"uid_remapped", f.uid_remapped},
          {"private_ipc", f.private_ipc},
          {"process_uid", f.process_uid}};
}

}  // namespace pmi_shim::diagnose
