#include "shim-client/exec_plan.h"

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "protocol/pmix/pmix_uri.h"

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

// Appends the env file's entries that are meant for the application of
// `family`: a directory that offers both holds PMI_RANK/PMI_SIZE and
// PMIX_*, and MPICH refuses PMI_SIZE next to PMIX_NAMESPACE.
void AddExported(const Rendezvous& found, ClientFamily family, Environ& environ) {
  for (const auto& [key, value] : found.entries) {
    if (absl::StartsWith(key, kInternalPrefix)) continue;
    if (family == ClientFamily::kPmi ? IsPmixVariable(key) : IsPmi12Variable(key)) continue;
    SetEnv(environ, key, value);
  }
}

absl::string_view FamilyName(ClientFamily family) {
  return family == ClientFamily::kPmix ? "PMIx" : "PMI-1/PMI-2";
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
    if (name == "PMI_FD" || name == "PMI_PORT" || pmix::IsPmixServerUriVariable(name)) {
      return true;
    }
  }
  return false;
}

bool Offers(const Rendezvous& found, ClientFamily family) {
  const std::string offers = found.Get(rendezvous::kOffersKey);
  if (offers.empty()) return PreferredFamily(found) == family;
  for (absl::string_view offer : absl::StrSplit(offers, ',')) {
    if (offer == (family == ClientFamily::kPmix ? "pmix" : "pmi")) return true;
  }
  return false;
}

ClientFamily PreferredFamily(const Rendezvous& found) {
  return found.protocol == Protocol::kPmix || found.protocol == Protocol::kPmixV1
             ? ClientFamily::kPmix
             : ClientFamily::kPmi;
}

FamilyChoice ChooseFamily(const Rendezvous& found, const image::ClientEvidence& program,
                          const image::ClientEvidence& image) {
  FamilyChoice choice;
  choice.family = PreferredFamily(found);
  for (const image::ClientEvidence* evidence : {&program, &image}) {
    if (!evidence->family.has_value()) continue;
    // A v1.x client is a PMIx client here; its own endpoint is a kPmixV1
    // rank directory, planned before any choice.
    const ClientFamily wanted =
        *evidence->family == ClientFamily::kPmixV1 ? ClientFamily::kPmix : *evidence->family;
    const char* source = evidence == &program ? "the program " : "the image's MPI: ";
    if (Offers(found, wanted)) {
      choice.family = wanted;
      choice.why = absl::StrCat(FamilyName(wanted), ", as ", source, evidence->why);
    } else {
      choice.why = absl::StrCat(FamilyName(choice.family), ", the only family served here");
      // An image may hold several MPIs; only the program's own library is
      // worth a warning.
      if (evidence != &program) return choice;
      choice.warning = absl::StrCat(source, evidence->why, ", a ", FamilyName(wanted),
                                    " client, but this rank is served ", FamilyName(choice.family),
                                    " only (pmi-bridge exec --downstream); it will likely fail "
                                    "or start alone: drop --downstream");
    }
    return choice;
  }
  choice.why =
      absl::StrCat(FamilyName(choice.family), ", the bridge's preference (",
                   program.why.empty() ? "the program could not be read" : program.why, ")");
  return choice;
}

bool NeedsRequest(const Rendezvous& found, ClientFamily family) {
  if (found.protocol == Protocol::kPmixV1) return false;  // its env file has it all
  if (family == ClientFamily::kPmi) {
    return found.Get(rendezvous::kRankKey).empty() || found.Get(rendezvous::kSizeKey).empty();
  }
  for (const auto& [key, value] : found.entries) {
    if (pmix::IsPmixServerUriVariable(key)) return false;
  }
  return true;
}

void MergeEntries(Rendezvous& found, const rendezvous::EnvEntries& added) {
  for (const auto& [key, value] : added) {
    bool replaced = false;
    for (auto& entry : found.entries) {
      if (entry.first == key) {
        entry.second = value;
        replaced = true;
      }
    }
    if (!replaced) found.entries.emplace_back(key, value);
  }
}

namespace {

Environ WithoutPmiVariables(const Environ& current) {
  return Without(current, [](absl::string_view name) { return IsPmiVariable(name); });
}

// No rendezvous directory: the rank runs as it is, either on a rendezvous
// the environment already carries or alone.
ExecPlan PlanWithoutRendezvous(const Environ& current) {
  ExecPlan plan;
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

// The v1.2 client reads its socket and data store by path; nothing to
// connect or relay. The paths are the host's: the directory is mounted at
// its own path (the hook's PMIX_SERVER_TMPDIR mount, or a bind-mount
// engine's rank directory).
absl::StatusOr<ExecPlan> PlanPmixV1(const Environ& current, const Rendezvous& found,
                                    const std::string& env_file) {
  ExecPlan plan;
  plan.mode = ExecMode::kDirect;
  plan.environment = WithoutPmiVariables(current);
  AddExported(found, ClientFamily::kPmix, plan.environment);
  if (LookupEnv(plan.environment, "PMIX_SERVER_URI") == std::nullopt ||
      LookupEnv(plan.environment, "PMIX_NAMESPACE") == std::nullopt) {
    return absl::InvalidArgumentError(absl::StrCat(
        env_file, " says PMI_SHIM_PROTOCOL=pmix1 but lacks PMIX_SERVER_URI or PMIX_NAMESPACE"));
  }
  plan.description =
      absl::StrCat("PMIx v1.2 through ", *LookupEnv(plan.environment, "PMIX_SERVER_URI"));
  return plan;
}

std::string FirstPmixServerUri(const Rendezvous& found) {
  for (const auto& [key, value] : found.entries) {
    if (pmix::IsPmixServerUriVariable(key)) return value;
  }
  return "";
}

absl::StatusOr<ExecPlan> PlanPmix(const Environ& current, const Rendezvous& found,
                                  const std::string& env_file) {
  ExecPlan plan;
  plan.mode = ExecMode::kPmix;
  plan.environment = WithoutPmiVariables(current);
  AddExported(found, ClientFamily::kPmix, plan.environment);
  plan.pmix_uri = FirstPmixServerUri(found);
  if (plan.pmix_uri.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat(env_file, " offers PMIx but has no PMIX_SERVER_URI* line"));
  }
  absl::StatusOr<pmix::PmixUri> uri = pmix::ParsePmixUri(plan.pmix_uri);
  if (!uri.ok())
    return absl::InvalidArgumentError(absl::StrCat(env_file, ": ", uri.status().message()));
  if (LookupEnv(plan.environment, "PMIX_NAMESPACE") == std::nullopt ||
      LookupEnv(plan.environment, "PMIX_RANK") == std::nullopt) {
    return absl::InvalidArgumentError(absl::StrCat(env_file, " lacks PMIX_NAMESPACE or PMIX_RANK"));
  }
  plan.pmix_socket = found.PmixSocketPath();
  plan.host_user_namespace = found.Get("PMI_SHIM_HOST_USER_NS");
  plan.description =
      absl::StrCat("PMIx through ", plan.pmix_uri, " (fallback ", plan.pmix_socket, ")");
  return plan;
}

// Not in a container after all (or one that kept the fd): the socket the
// bridge handed over is right here.
ExecPlan PlanInheritedFd(const Environ& current, const std::string& inherited) {
  ExecPlan plan;
  plan.mode = ExecMode::kDirect;
  plan.environment = Without(current, [](absl::string_view name) { return IsPmixVariable(name); });
  plan.description = absl::StrCat("the inherited PMI_FD=", inherited, " is this rank's socket");
  return plan;
}

absl::StatusOr<ExecPlan> PlanPmiSocket(const Environ& current, const Rendezvous& found,
                                       const std::string& env_file, ClientFamily family,
                                       const std::optional<std::string>& inherited,
                                       const ExecChoices& choices) {
  ExecPlan plan;
  plan.mode = ExecMode::kPmiSocket;
  plan.environment = WithoutPmiVariables(current);
  AddExported(found, family, plan.environment);
  for (const char* key : {rendezvous::kRankKey, rendezvous::kSizeKey}) {
    if (found.Get(key).empty()) {
      return absl::InvalidArgumentError(absl::StrCat(env_file, " has no ", key, "= line"));
    }
  }
  plan.pmi_socket = found.SocketPath();
  plan.description =
      absl::StrCat(ProtocolName(found.protocol), " through ", plan.pmi_socket, ", rank ",
                   found.Get(rendezvous::kRankKey), " of ", found.Get(rendezvous::kSizeKey));
  if (inherited.has_value() && choices.inherited_fd.has_value()) {
    plan.notice =
        absl::StrCat("inherited PMI_FD=", *inherited, " is not a usable socket here (",
                     choices.inherited_fd->why, "); using the rank directory ", found.dir);
  }
  return plan;
}

}  // namespace

absl::StatusOr<ExecPlan> PlanExec(const Environ& current, const std::optional<Rendezvous>& found,
                                  const ExecChoices& choices) {
  if (!found.has_value()) return PlanWithoutRendezvous(current);
  const std::string env_file = absl::StrCat(found->dir, "/", rendezvous::kEnvFileName);
  if (found->protocol == Protocol::kPmixV1) return PlanPmixV1(current, *found, env_file);
  const ClientFamily family = choices.family.value_or(PreferredFamily(*found));
  if (family == ClientFamily::kPmix) return PlanPmix(current, *found, env_file);
  const std::optional<std::string> inherited = LookupEnv(current, "PMI_FD");
  if (inherited.has_value() && choices.inherited_fd.has_value() && choices.inherited_fd->usable) {
    return PlanInheritedFd(current, *inherited);
  }
  return PlanPmiSocket(current, *found, env_file, family, inherited, choices);
}

}  // namespace pmi_shim::shim_client
