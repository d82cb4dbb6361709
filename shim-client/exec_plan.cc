#include "shim-client/exec_plan.h"

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "bridge/downstream/pmix_uri.h"

namespace pmi_shim::shim_client {
namespace {

absl::string_view NameOf(absl::string_view entry) { return entry.substr(0, entry.find('=')); }

// Variables of a PMI-1/PMI-2 rendezvous (protocols.md §1.1, §2.1).
bool IsPmi12Variable(absl::string_view name) {
  return name == "PMI_FD" || name == "PMI_PORT" || name == "PMI_ID" || name == "PMI_RANK" ||
         name == "PMI_SIZE" || name == "PMI_JOBID" || name == "PMI_SPAWNED";
}

bool IsPmixVariable(absl::string_view name) {
  return absl::StartsWith(name, "PMIX_") || name == "PRTE_LAUNCHED";
}

Environ Without(const Environ& environ, bool (*drop)(absl::string_view)) {
  Environ kept;
  for (const std::string& entry : environ) {
    if (!drop(NameOf(entry))) kept.push_back(entry);
  }
  return kept;
}

// Appends the env file's entries that are meant for the application.
void AddExported(const Rendezvous& found, Environ& environ) {
  for (const auto& [key, value] : found.entries) {
    if (absl::StartsWith(key, kInternalPrefix)) continue;
    SetEnv(environ, key, value);
  }
}

}  // namespace

std::optional<std::string> LookupEnv(const Environ& environ, absl::string_view key) {
  for (const std::string& entry : environ) {
    if (NameOf(entry) == key && entry.size() > key.size()) return entry.substr(key.size() + 1);
  }
  return std::nullopt;
}

void SetEnv(Environ& environ, absl::string_view key, absl::string_view value) {
  for (std::string& entry : environ) {
    if (NameOf(entry) == key) {
      entry = absl::StrCat(key, "=", value);
      return;
    }
  }
  environ.push_back(absl::StrCat(key, "=", value));
}

bool IsPmiVariable(absl::string_view name) { return IsPmi12Variable(name) || IsPmixVariable(name); }

bool HasDirectRendezvous(const Environ& environ) {
  for (const std::string& entry : environ) {
    const absl::string_view name = NameOf(entry);
    if (name == "PMI_FD" || name == "PMI_PORT" || downstream::IsPmixServerUriVariable(name)) {
      return true;
    }
  }
  return false;
}

absl::StatusOr<ExecPlan> PlanExec(const Environ& current, const std::optional<Rendezvous>& found) {
  ExecPlan plan;
  if (!found.has_value()) {
    plan.environment = current;
    if (HasDirectRendezvous(current)) {
      plan.mode = ExecMode::kDirect;
      plan.description = "no rendezvous directory; the environment has its own PMI rendezvous";
    } else {
      plan.mode = ExecMode::kSingleton;
      plan.description = "no rendezvous directory and no PMI/PMIx variables";
    }
    return plan;
  }
  const std::string env_file = absl::StrCat(found->dir, "/", rendezvous::kEnvFileName);
  if (found->protocol == Protocol::kPmixV1) {
    // The v1.2 client reads its socket and data store by path; nothing to
    // connect or relay. The paths are the host's: the directory is mounted
    // at its own path (the hook's PMIX_SERVER_TMPDIR mount, or a
    // bind-mount engine's rank directory).
    plan.mode = ExecMode::kDirect;
    plan.environment = Without(current, [](absl::string_view name) { return IsPmiVariable(name); });
    AddExported(*found, plan.environment);
    if (LookupEnv(plan.environment, "PMIX_SERVER_URI") == std::nullopt ||
        LookupEnv(plan.environment, "PMIX_NAMESPACE") == std::nullopt) {
      return absl::InvalidArgumentError(absl::StrCat(
          env_file, " says PMI_SHIM_PROTOCOL=pmix1 but lacks PMIX_SERVER_URI or PMIX_NAMESPACE"));
    }
    plan.description = absl::StrCat("PMIx v1.2 through ",
                                    *LookupEnv(plan.environment, "PMIX_SERVER_URI"));
    return plan;
  }
  if (found->protocol == Protocol::kPmix) {
    plan.mode = ExecMode::kPmix;
    plan.environment = Without(current, [](absl::string_view name) { return IsPmiVariable(name); });
    AddExported(*found, plan.environment);
    for (const auto& [key, value] : found->entries) {
      if (downstream::IsPmixServerUriVariable(key)) {
        plan.pmix_uri = value;
        break;
      }
    }
    if (plan.pmix_uri.empty()) {
      return absl::InvalidArgumentError(absl::StrCat(
          env_file, " says PMI_SHIM_PROTOCOL=pmix but has no PMIX_SERVER_URI* line"));
    }
    absl::StatusOr<downstream::PmixUri> uri = downstream::ParsePmixUri(plan.pmix_uri);
    if (!uri.ok()) return absl::InvalidArgumentError(absl::StrCat(env_file, ": ", uri.status().message()));
    if (LookupEnv(plan.environment, "PMIX_NAMESPACE") == std::nullopt ||
        LookupEnv(plan.environment, "PMIX_RANK") == std::nullopt) {
      return absl::InvalidArgumentError(
          absl::StrCat(env_file, " lacks PMIX_NAMESPACE or PMIX_RANK"));
    }
    plan.pmix_socket = found->PmixSocketPath();
    plan.host_user_namespace = found->Get("PMI_SHIM_HOST_USER_NS");
    plan.description = absl::StrCat("PMIx through ", plan.pmix_uri, " (fallback ", plan.pmix_socket, ")");
    return plan;
  }
  plan.mode = ExecMode::kPmiSocket;
  plan.environment = Without(current, [](absl::string_view name) { return IsPmiVariable(name); });
  AddExported(*found, plan.environment);
  for (const char* key : {rendezvous::kRankKey, rendezvous::kSizeKey}) {
    if (found->Get(key).empty()) {
      return absl::InvalidArgumentError(absl::StrCat(env_file, " has no ", key, "= line"));
    }
  }
  plan.pmi_socket = found->SocketPath();
  plan.description = absl::StrCat(ProtocolName(found->protocol), " through ", plan.pmi_socket,
                                  ", rank ", found->Get(rendezvous::kRankKey), " of ",
                                  found->Get(rendezvous::kSizeKey));
  return plan;
}

}  // namespace pmi_shim::shim_client
