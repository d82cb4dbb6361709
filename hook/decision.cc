#include "hook/decision.h"

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "common/rendezvous.h"

namespace pmi_shim::hook {
namespace {

enum class Switch { kOn, kOff, kUnknown };

Switch ParseSwitch(const std::string& value) {
  const std::string lower = absl::AsciiStrToLower(value);
  if (lower == "1" || lower == "true" || lower == "yes" || lower == "on") return Switch::kOn;
  if (lower == "0" || lower == "false" || lower == "no" || lower == "off") return Switch::kOff;
  return Switch::kUnknown;
}

// The name of the first rendezvous variable found, or "".
std::string RendezvousVariable(const std::vector<std::string>& env) {
  for (const std::string& entry : env) {
    const std::string name = entry.substr(0, entry.find('='));
    if (name == rendezvous::kDirVariable || name == "PMI_PORT" || IsPmixServerUriName(name)) {
      return name;
    }
  }
  return "";
}

}  // namespace

bool IsPmixServerUriName(const std::string& name) {
  absl::string_view rest = name;
  if (!absl::ConsumePrefix(&rest, "PMIX_SERVER_URI")) return false;
  for (char c : rest) {
    if (!absl::ascii_isdigit(c)) return false;
  }
  return true;
}

std::string StrandedPmiFdNote(const ContainerConfig& config) {
  bool has_fd = false;
  const std::string fd = EnvValue(config.env, "PMI_FD", &has_fd);
  if (!has_fd) return "";
  bool has_dir = false;
  EnvValue(config.env, rendezvous::kDirVariable, &has_dir);
  if (has_dir) return "";
  return absl::StrCat("process.env carries PMI_FD=", fd, " but no ", rendezvous::kDirVariable,
                      ": the launcher's socket does not cross into a container, so its MPI "
                      "library will fail or start alone; run the rank under `pmi-bridge exec` "
                      "(which exports ",
                      rendezvous::kDirVariable, ") and pass ", rendezvous::kDirVariable,
                      " into the container");
}

Decision Decide(const ContainerConfig& config, const Gating& gating) {
  if (gating.annotation) {
    auto it = config.annotations.find(kEnableAnnotation);
    if (it != config.annotations.end()) {
      const std::string said = absl::StrCat("annotation ", kEnableAnnotation, "=", it->second);
      switch (ParseSwitch(it->second)) {
        case Switch::kOn:
          return {true, said};
        case Switch::kOff:
          return {false, said + " (explicit opt-out)"};
        case Switch::kUnknown:
          return {false, said + " is not true/false; ignoring the container"};
      }
    }
  }
  if (gating.env) {
    bool found = false;
    const std::string value = EnvValue(config.env, kEnableVariable, &found);
    if (found) {
      const std::string said = absl::StrCat("process.env ", kEnableVariable, "=", value);
      switch (ParseSwitch(value)) {
        case Switch::kOn:
          return {true, said};
        case Switch::kOff:
          return {false, said + " (explicit opt-out)"};
        case Switch::kUnknown:
          break;  // fall through to auto: a stray value should not block it
      }
    }
  }
  if (gating.auto_detect) {
    const std::string name = RendezvousVariable(config.env);
    if (!name.empty()) return {true, absl::StrCat("process.env has ", name, " (auto)")};
  }
  return {false, absl::StrCat("no ", kEnableAnnotation, "=true annotation, no ", kEnableVariable,
                              "=1 and no PMI_SHIM_DIR, PMIX_SERVER_URI* or PMI_PORT in "
                              "process.env (with the channels the admin config enables)")};
}

}  // namespace pmi_shim::hook
