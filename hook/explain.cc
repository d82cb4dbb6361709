#include "hook/explain.h"

#include "absl/strings/str_cat.h"

namespace pmi_shim::hook {
namespace {

using nlohmann::json;

const char* KindName(MountStep::Kind kind) {
  switch (kind) {
    case MountStep::Kind::kDirectory:
      return "directory";
    case MountStep::Kind::kSocket:
      return "socket";
    case MountStep::Kind::kFile:
      return "file";
  }
  return "unknown";
}

void AppendPlanText(const Plan& plan, std::string& out) {
  absl::StrAppend(&out, "plan:\n");
  if (plan.mounts.empty() && plan.relays.empty() && plan.env.empty()) {
    absl::StrAppend(&out, "  nothing to do\n");
  }
  for (const MountStep& step : plan.mounts) {
    absl::StrAppend(&out, "  mount  ", step.source, " -> ", step.target, " (", KindName(step.kind),
                    ", ", step.read_only ? "read-only" : "read-write", ", nosuid, nodev)  # ",
                    step.why, "\n");
  }
  for (const RelayStep& relay : plan.relays) {
    absl::StrAppend(&out, "  relay  ", relay.address, ":", relay.port, " inside ",
                    plan.netns_path.empty() ? "the container's network namespace" : plan.netns_path,
                    " -> the same address on the host  # ", relay.why, "\n");
  }
  for (const std::string& entry : plan.env) {
    absl::StrAppend(&out, "  env    ", entry, "  # runtime mode only\n");
  }
  for (const std::string& note : plan.notes) absl::StrAppend(&out, "  note   ", note, "\n");
}

}  // namespace

json PlanToJson(const Plan& plan) {
  json mounts = json::array();
  for (const MountStep& step : plan.mounts) {
    mounts.push_back({{"source", step.source},
                      {"target", step.target},
                      {"kind", KindName(step.kind)},
                      {"read_only", step.read_only},
                      {"why", step.why}});
  }
  json relays = json::array();
  for (const RelayStep& relay : plan.relays) {
    relays.push_back({{"address", relay.address}, {"port", relay.port}, {"why", relay.why}});
  }
  return {{"container_id", plan.container_id},
          {"pid", plan.pid},
          {"bundle", plan.bundle},
          {"rootfs", plan.rootfs},
          {"private_netns", plan.private_netns},
          {"netns_path", plan.netns_path},
          {"uid", plan.uid},
          {"gid", plan.gid},
          {"mounts", mounts},
          {"relays", relays},
          {"env", plan.env},
          {"notes", plan.notes}};
}

std::string FormatExplanationText(const Explanation& explanation) {
  std::string out =
      absl::StrCat("container: ", explanation.container_id, " (bundle ", explanation.bundle, ")\n");
  absl::StrAppend(&out, "decision: ", explanation.decision.asked ? "asked" : "not asked", " - ",
                  explanation.decision.why, "\n");
  if (!explanation.stranded_fd_note.empty()) {
    absl::StrAppend(&out, "note: ", explanation.stranded_fd_note, "\n");
  }
  if (!explanation.plan_error.empty()) {
    absl::StrAppend(&out, "plan: refused - ", explanation.plan_error, "\n");
  }
  if (explanation.plan.has_value()) AppendPlanText(*explanation.plan, out);
  if (!explanation.decision.asked) return out;
  absl::StrAppend(&out, "runtime mode (pmi-shim-hook runtime) would change config.json:\n");
  if (explanation.runtime_changes.empty()) absl::StrAppend(&out, "  nothing\n");
  for (const std::string& change : explanation.runtime_changes) {
    absl::StrAppend(&out, "  ", change, "\n");
  }
  return out;
}

json ExplanationToJson(const Explanation& explanation) {
  json out = {
      {"container_id", explanation.container_id},
      {"bundle", explanation.bundle},
      {"decision", {{"asked", explanation.decision.asked}, {"why", explanation.decision.why}}},
      {"runtime_changes", explanation.runtime_changes}};
  out["plan"] = explanation.plan.has_value() ? PlanToJson(*explanation.plan) : json(nullptr);
  if (!explanation.plan_error.empty()) out["plan_error"] = explanation.plan_error;
  if (!explanation.stranded_fd_note.empty()) out["stranded_fd_note"] = explanation.stranded_fd_note;
  return out;
}

}  // namespace pmi_shim::hook
