// Test stand-in for pmi-shim-hook's main (hook/main.cc is the real one): runs
// ApplyPlan / CleanupContainer as real OCI hooks with the state on stdin, and
// the `relay` verb the applier re-executes. The plan comes from flags, not
// from config.json: the planner is not what these tests exercise.
//
//   apply_tool apply --state-dir D [--mount SRC=TARGET=dir|socket|file=ro|rw]...
//                    [--relay ADDR:PORT]... [--uid U] [--gid G]   < state.json
//   apply_tool cleanup --state-dir D                               < state.json
//   apply_tool relay ...
#include <unistd.h>

#include <iostream>
#include <iterator>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "absl/status/status.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/log.h"
#include "hook/apply/apply.h"
#include "hook/plan.h"

namespace {

using pmi_shim::hook::ApplyOptions;
using pmi_shim::hook::MountStep;
using pmi_shim::hook::Plan;

int Fail(const std::string& message) {
  pmi_shim::log::Error(message);
  return 1;
}

std::string SelfPath() {
  char buffer[4096];
  const ssize_t n = ::readlink("/proc/self/exe", buffer, sizeof(buffer) - 1);
  return n > 0 ? std::string(buffer, n) : "";
}

absl::Status ParseMountFlag(const std::string& value, ApplyOptions* options, Plan* plan) {
  std::vector<std::string> parts = absl::StrSplit(value, '=');
  if (parts.size() != 4) return absl::InvalidArgumentError(absl::StrCat("bad --mount ", value));
  MountStep step;
  step.source = parts[0];
  step.target = parts[1];
  step.kind = parts[2] == "socket" ? MountStep::Kind::kSocket
              : parts[2] == "file" ? MountStep::Kind::kFile
                                   : MountStep::Kind::kDirectory;
  step.read_only = parts[3] == "ro";
  plan->mounts.push_back(step);
  return absl::OkStatus();
}

absl::Status ParseRelayFlag(const std::string& value, ApplyOptions* options, Plan* plan) {
  std::vector<std::string> parts = absl::StrSplit(value, ':');
  pmi_shim::hook::RelayStep step;
  if (parts.size() != 2 || !absl::SimpleAtoi(parts[1], &step.port)) {
    return absl::InvalidArgumentError(absl::StrCat("bad --relay ", value));
  }
  step.address = parts[0];
  plan->relays.push_back(step);
  return absl::OkStatus();
}

// What each flag of `apply` and `cleanup` sets; an error's message is the line to print.
struct FlagParser {
  const char* flag;
  absl::Status (*parse)(const std::string& value, ApplyOptions* options, Plan* plan);
};

constexpr FlagParser kFlagParsers[] = {
    {"--state-dir",
     [](const std::string& value, ApplyOptions* options, Plan* plan) {
       options->state_dir = value;
       return absl::OkStatus();
     }},
    {"--mount", ParseMountFlag},
    {"--relay", ParseRelayFlag},
    {"--uid",
     [](const std::string& value, ApplyOptions* options, Plan* plan) {
       return absl::SimpleAtoi(value, &plan->uid) ? absl::OkStatus()
                                                  : absl::InvalidArgumentError("bad --uid");
     }},
    {"--gid",
     [](const std::string& value, ApplyOptions* options, Plan* plan) {
       return absl::SimpleAtoi(value, &plan->gid) ? absl::OkStatus()
                                                  : absl::InvalidArgumentError("bad --gid");
     }},
};

// Flags come in FLAG VALUE pairs; a trailing flag without a value is ignored.
absl::Status ParseFlags(const std::vector<std::string>& args, ApplyOptions* options, Plan* plan) {
  for (size_t i = 0; i + 1 < args.size(); i += 2) {
    const std::string& flag = args[i];
    const FlagParser* parser = nullptr;
    for (const FlagParser& candidate : kFlagParsers) {
      if (flag == candidate.flag) parser = &candidate;
    }
    if (parser == nullptr) return absl::InvalidArgumentError(absl::StrCat("unknown flag ", flag));
    absl::Status parsed = parser->parse(args[i + 1], options, plan);
    if (!parsed.ok()) return parsed;
  }
  return absl::OkStatus();
}

// The OCI state the runtime writes on a hook's stdin; nullopt when it is not a JSON object.
std::optional<nlohmann::json> ReadStateFromStdin() {
  const std::string input((std::istreambuf_iterator<char>(std::cin)),
                          std::istreambuf_iterator<char>());
  nlohmann::json state = nlohmann::json::parse(input, nullptr, false);
  if (state.is_discarded() || !state.is_object()) return std::nullopt;
  return state;
}

// The container's process, bundle and network namespace, for `apply`.
void FillPlanFromState(const nlohmann::json& state, Plan* plan) {
  plan->pid = state.value("pid", 0);
  plan->bundle = state.value("bundle", "");
  plan->rootfs = plan->bundle + "/rootfs";
  plan->netns_path = absl::StrCat("/proc/", plan->pid, "/ns/net");
  plan->private_netns = true;
}

}  // namespace

int main(int argc, char** argv) {
  pmi_shim::log::Init("pmi-shim-hook");
  std::vector<std::string> args(argv + 1, argv + argc);
  if (args.empty()) return Fail("usage: apply_tool apply|cleanup|relay ...");
  const std::string verb = args[0];
  args.erase(args.begin());
  if (verb == "relay") return pmi_shim::hook::RunRelayVerb(args);

  ApplyOptions options;
  options.self_path = SelfPath();
  Plan plan;
  absl::Status parsed = ParseFlags(args, &options, &plan);
  if (!parsed.ok()) return Fail(std::string(parsed.message()));
  const std::optional<nlohmann::json> state = ReadStateFromStdin();
  if (!state.has_value()) return Fail("the OCI state on stdin is not JSON");
  plan.container_id = state->value("id", "");
  if (verb == "cleanup") {
    absl::Status cleaned = pmi_shim::hook::CleanupContainer(plan.container_id, options);
    return cleaned.ok() ? 0 : Fail(std::string(cleaned.message()));
  }
  if (verb != "apply") return Fail(absl::StrCat("unknown verb ", verb));
  FillPlanFromState(*state, &plan);
  absl::Status applied = pmi_shim::hook::ApplyPlan(plan, options);
  return applied.ok() ? 0 : Fail(std::string(applied.message()));
}
