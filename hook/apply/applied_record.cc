#include "hook/apply/applied_record.h"

#include <nlohmann/json.hpp>

#include "absl/strings/str_cat.h"

namespace pmi_shim::hook {
namespace {

constexpr int kVersion = 1;
using nlohmann::json;

}  // namespace

std::string EncodeRecord(const AppliedRecord& record) {
  json mounts = json::array();
  for (const AppliedMount& m : record.mounts) {
    mounts.push_back(
        {{"source", m.source}, {"target", m.target}, {"done", m.done}, {"created", m.created}});
  }
  json relays = json::array();
  for (const AppliedRelay& r : record.relays) {
    relays.push_back(
        {{"address", r.address}, {"port", r.port}, {"pid", r.pid}, {"start_time", r.start_time}});
  }
  json doc = {{"version", kVersion}, {"container_id", record.container_id},
              {"pid", record.pid},   {"rootfs", record.rootfs},
              {"mounts", mounts},    {"relays", relays}};
  return doc.dump() + "\n";
}

absl::StatusOr<AppliedRecord> DecodeRecord(const std::string& text) {
  json doc = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded() || !doc.is_object()) {
    return absl::InvalidArgumentError("applied-record is not a JSON object");
  }
  // nlohmann throws on a type mismatch: keep that inside this function.
  try {
    if (!doc.contains("version") || doc["version"] != kVersion) {
      return absl::InvalidArgumentError(absl::StrCat("applied-record has version ",
                                                     doc.value("version", json()).dump(),
                                                     ", expected ", kVersion));
    }
    AppliedRecord record;
    record.container_id = doc.at("container_id").get<std::string>();
    record.pid = doc.at("pid").get<pid_t>();
    record.rootfs = doc.at("rootfs").get<std::string>();
    for (const json& m : doc.at("mounts")) {
      AppliedMount mount;
      mount.source = m.at("source").get<std::string>();
      mount.target = m.at("target").get<std::string>();
      mount.done = m.at("done").get<bool>();
      mount.created = m.at("created").get<std::vector<std::string>>();
      record.mounts.push_back(std::move(mount));
    }
    for (const json& r : doc.at("relays")) {
      AppliedRelay relay;
      relay.address = r.at("address").get<std::string>();
      relay.port = r.at("port").get<int>();
      relay.pid = r.at("pid").get<pid_t>();
      relay.start_time = r.at("start_time").get<uint64_t>();
      record.relays.push_back(std::move(relay));
    }
    return record;
  } catch (const json::exception& e) {
    return absl::InvalidArgumentError(absl::StrCat("applied-record is malformed: ", e.what()));
  }
}

bool IsSafeContainerId(const std::string& id) {
  if (id.empty() || id.size() > 256 || id == "." || id == "..") return false;
  for (char c : id) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '_' || c == '.' || c == '-';
    if (!ok) return false;
  }
  return true;
}

}  // namespace pmi_shim::hook
