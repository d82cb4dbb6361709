// Fuzz target for everything the hook parses from users and images: the same
// bytes as an OCI state, a config.json and an admin config, then (when they
// parse) through the decision, the planner and the runtime-mode edit.
// Invariants: no crash; parse errors are InvalidArgument and one line; a
// plan's host paths are normalized and below an allowed dir (or the tools
// dir); its relays are loopback with a valid port.
#include <cstddef>
#include <cstdint>
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/string_view.h"
#include "hook/admin_config.h"
#include "hook/decision.h"
#include "hook/json_input.h"
#include "hook/oci_config.h"
#include "hook/paths.h"
#include "hook/planner.h"
#include "hook/runtime_wrapper.h"
#include "tools/build/fuzz_check.h"

namespace {

using namespace pmi_shim::hook;  // NOLINT: a fuzz driver

void CheckError(const absl::Status& status) {
  FUZZ_CHECK(status.code() == absl::StatusCode::kInvalidArgument);
  FUZZ_CHECK(status.message().find('\n') == absl::string_view::npos);
}

void CheckPlan(const Plan& plan, const AdminConfig& admin) {
  for (const MountStep& step : plan.mounts) {
    FUZZ_CHECK(IsNormalAbsolute(step.source));
    FUZZ_CHECK(step.source == "/opt/tools" ||
               !AllowedParent(step.source, admin.allowed_dirs).empty());
  }
  for (const RelayStep& relay : plan.relays) {
    FUZZ_CHECK(absl::StartsWith(relay.address, "127."));
    FUZZ_CHECK(relay.port > 0 && relay.port < 65536);
  }
}

void CheckConfig(absl::string_view input) {
  absl::StatusOr<nlohmann::json> raw = ParseJsonObject(input, "config.json");
  if (!raw.ok()) return CheckError(raw.status());
  absl::StatusOr<ContainerConfig> config = ConfigFromJson(*raw, "config.json", "/b");
  if (!config.ok()) return CheckError(config.status());
  FUZZ_CHECK(IsNormalAbsolute(config->rootfs));
  AdminConfig admin;
  Gating all;
  Decide(*config, all);
  OciState state;
  state.id = "c";
  state.bundle = "/b";
  absl::StatusOr<Plan> plan = BuildPlan(state, *config, admin, {"/opt/tools", nullptr});
  if (!plan.ok()) {
    FUZZ_CHECK(plan.status().code() == absl::StatusCode::kPermissionDenied);
    return;
  }
  CheckPlan(*plan, admin);
  const ConfigEdit edit =
      EditConfigForPlan(*raw, *plan, {"/opt/tools/bin/pmi-shim-hook", "", true});
  const ConfigEdit again =
      EditConfigForPlan(edit.config, *plan, {"/opt/tools/bin/pmi-shim-hook", "", true});
  FUZZ_CHECK(again.changes.empty());
  (void)edit.config.dump();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const absl::string_view input(reinterpret_cast<const char*>(data), size);
  if (absl::StatusOr<OciState> state = ParseState(input, "state"); !state.ok()) {
    CheckError(state.status());
  }
  if (absl::StatusOr<AdminConfig> admin = ParseAdminConfig(input, "hook.json"); !admin.ok()) {
    CheckError(admin.status());
  }
  CheckConfig(input);
  return 0;
}
