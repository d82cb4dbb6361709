// `pmi-shim-hook explain`: the decision, the plan and the runtime-mode
// config.json changes, as text for people or JSON for tools. Also the JSON
// form of a plan that the hook writes to its log.
#ifndef PMI_SHIM_HOOK_EXPLAIN_H_
#define PMI_SHIM_HOOK_EXPLAIN_H_

#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "hook/decision.h"
#include "hook/plan.h"

namespace pmi_shim::hook {

struct Explanation {
  std::string container_id;
  std::string bundle;
  Decision decision;
  std::optional<Plan> plan;                  // absent when not asked
  std::string plan_error;                    // set when planning refused the container
  std::vector<std::string> runtime_changes;  // what runtime mode would edit
  // StrandedPmiFdNote (decision.h), whatever the decision: "" when none.
  std::string stranded_fd_note;
};

nlohmann::json PlanToJson(const Plan& plan);
std::string FormatExplanationText(const Explanation& explanation);
nlohmann::json ExplanationToJson(const Explanation& explanation);

}  // namespace pmi_shim::hook

#endif  // PMI_SHIM_HOOK_EXPLAIN_H_
