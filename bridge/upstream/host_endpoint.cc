// Reading the launcher's PMI rendezvous out of an environment (see
// host_endpoint.h for the rules).
#include "bridge/upstream/host_endpoint.h"

#include <algorithm>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/status_macros.h"

namespace pmi_shim::upstream {
namespace {

const std::string* Lookup(const Environment& env, absl::string_view name) {
  auto it = env.find(name);
  return it == env.end() ? nullptr : &it->second;
}

// Parses NAME's value as a decimal integer in [min, max]; nullopt when NAME
// is unset. A garbage value is an error: guessing would connect to the
// wrong place or claim the wrong rank.
absl::StatusOr<std::optional<int>> ReadInt(const Environment& env, absl::string_view name, int min,
                                           absl::string_view what) {
  const std::string* text = Lookup(env, name);
  if (text == nullptr) return std::optional<int>();
  int value = 0;
  if (!absl::SimpleAtoi(*text, &value) || value < min) {
    return absl::InvalidArgumentError(
        absl::StrCat(name, "=\"", *text, "\" is not ", what,
                     "; the launcher's PMI environment is corrupt or was changed"));
  }
  return std::optional<int>(value);
}

// PMI_PORT is "host:port"; like MPICH, cut at the first ':' (so an IPv6
// literal cannot be written; a host name can).
absl::Status ReadPort(const Environment& env, HostEndpoint& endpoint) {
  const std::string* text = Lookup(env, "PMI_PORT");
  if (text == nullptr) return absl::OkStatus();
  const size_t colon = text->find(':');
  int port = 0;
  if (colon == std::string::npos || colon == 0 ||
      !absl::SimpleAtoi(absl::string_view(*text).substr(colon + 1), &port) || port <= 0 ||
      port > 65535) {
    return absl::InvalidArgumentError(
        absl::StrCat("PMI_PORT=\"", *text,
                     "\" is not host:port (MPICH reads the host up to the first ':' "
                     "and a port number after it); fix the launcher's -pmi-port setting"));
  }
  endpoint.port_host = text->substr(0, colon);
  endpoint.port = port;
  return absl::OkStatus();
}

absl::Status ReadPmiWire(const Environment& env, HostEndpoint& endpoint) {
  ASSIGN_OR_RETURN(endpoint.fd, ReadInt(env, "PMI_FD", 0, "a file descriptor number"));
  RETURN_IF_ERROR(ReadPort(env, endpoint));
  ASSIGN_OR_RETURN(endpoint.id, ReadInt(env, "PMI_ID", 0, "a rank number"));
  ASSIGN_OR_RETURN(endpoint.rank, ReadInt(env, "PMI_RANK", 0, "a rank number"));
  ASSIGN_OR_RETURN(endpoint.size, ReadInt(env, "PMI_SIZE", 1, "a positive job size"));
  if (const std::string* jobid = Lookup(env, "PMI_JOBID")) endpoint.jobid = *jobid;
  if (const std::string* spawned = Lookup(env, "PMI_SPAWNED")) endpoint.spawned = *spawned == "1";
  return absl::OkStatus();
}

void ReadPmix(const Environment& env, HostEndpoint& endpoint) {
  endpoint.has_pmix_namespace = Lookup(env, "PMIX_NAMESPACE") != nullptr;
  endpoint.has_pmix_rank = Lookup(env, "PMIX_RANK") != nullptr;
  for (const auto& [name, value] : env) {
    if (absl::StartsWith(name, "PMIX_SERVER_URI")) endpoint.pmix_server_uri_names.push_back(name);
  }
  std::sort(endpoint.pmix_server_uri_names.begin(), endpoint.pmix_server_uri_names.end());
}

// MPICH's test (mpir_pmi.c) is PMI_SIZE, or PMI_PORT with PMI_ID. A lone
// PMI_FD or PMI_PORT counts too: the first is still a connected PMI socket,
// and for the second CheckPmiWireUsable says what is missing, which helps
// more than "no PMI server found".
bool OffersPmiWire(const HostEndpoint& e) {
  return e.fd.has_value() || e.size.has_value() || e.port.has_value();
}

// A rendezvous the PMI wire client can actually use.
absl::Status CheckPmiWireUsable(const HostEndpoint& e, UpstreamChoice choice) {
  if (e.fd.has_value()) return absl::OkStatus();
  if (e.port.has_value()) {
    if (e.id.has_value() || e.rank.has_value()) return absl::OkStatus();
    return absl::InvalidArgumentError(
        "PMI_PORT is set but neither PMI_ID nor PMI_RANK, so the host server cannot tell which "
        "rank connects; run pmi-bridge exec directly under the launcher");
  }
  return absl::NotFoundError(
      absl::StrCat("--upstream ", UpstreamChoiceName(choice),
                   " needs a PMI server, but the environment has no PMI_FD or PMI_PORT",
                   e.size.has_value() ? " (only PMI_SIZE)" : "",
                   "; run pmi-bridge exec under mpiexec, srun --mpi=pmi2 or flux run"));
}

absl::Status CheckPmixUsable(const HostEndpoint& e) {
  if (e.has_pmix_namespace && e.has_pmix_rank && !e.pmix_server_uri_names.empty()) {
    return absl::OkStatus();
  }
  if (!e.has_pmix_namespace) {
    return absl::NotFoundError(
        "--upstream pmix needs a PMIx server, but PMIX_NAMESPACE is not set; run pmi-bridge exec "
        "under mpirun, prterun or srun --mpi=pmix");
  }
  return absl::InvalidArgumentError(absl::StrCat(
      "PMIX_NAMESPACE is set but ", e.has_pmix_rank ? "no PMIX_SERVER_URI*" : "PMIX_RANK is not",
      "; the PMIx launcher's environment is incomplete or was filtered (pass PMIX_* through)"));
}

// PMI_FD wins over PMI_PORT, as in every PMI client.
std::string DescribePmiWire(const HostEndpoint& e) {
  if (e.fd.has_value()) return absl::StrCat("PMI_FD=", *e.fd);
  if (e.port.has_value()) return absl::StrCat("PMI_PORT=", e.port_host.value_or(""), ":", *e.port);
  return "PMI_SIZE";
}

// --upstream auto with variables of both families (see the header).
absl::Status ResolveAmbiguity(HostEndpoint& e) {
  const bool pmi_wins = e.fd.has_value();
  e.family = pmi_wins ? HostFamily::kPmiWire : HostFamily::kPmix;
  e.protocol = e.jobid.has_value() ? WireProtocol::kPmi2 : WireProtocol::kPmi1;
  e.warnings.push_back(absl::StrCat("both a PMI server (", DescribePmiWire(e),
                                    ") and a PMIx server (PMIX_NAMESPACE) are in the "
                                    "environment; using ",
                                    pmi_wins ? "the PMI server, whose inherited PMI_FD"
                                             : "the PMIx server, since no PMI socket was inherited",
                                    " marks the innermost launcher; pass --upstream to choose"));
  return pmi_wins ? CheckPmiWireUsable(e, UpstreamChoice::kAuto) : CheckPmixUsable(e);
}

absl::Status Resolve(HostEndpoint& e, UpstreamChoice choice) {
  const bool pmi = OffersPmiWire(e);
  const bool pmix = e.has_pmix_namespace;
  switch (choice) {
    case UpstreamChoice::kPmi1:
    case UpstreamChoice::kPmi2:
      e.family = HostFamily::kPmiWire;
      e.protocol = choice == UpstreamChoice::kPmi2 ? WireProtocol::kPmi2 : WireProtocol::kPmi1;
      return CheckPmiWireUsable(e, choice);
    case UpstreamChoice::kPmix:
      e.family = HostFamily::kPmix;
      return CheckPmixUsable(e);
    case UpstreamChoice::kAuto:
      break;
  }
  if (pmi && pmix) return ResolveAmbiguity(e);
  if (pmi) {
    e.family = HostFamily::kPmiWire;
    e.protocol = e.jobid.has_value() ? WireProtocol::kPmi2 : WireProtocol::kPmi1;
    return CheckPmiWireUsable(e, choice);
  }
  if (pmix) {
    e.family = HostFamily::kPmix;
    return CheckPmixUsable(e);
  }
  return absl::NotFoundError(
      "no PMI server found in the environment (no PMI_FD, PMI_PORT or PMIX_NAMESPACE); run "
      "pmi-bridge exec under mpiexec, srun or mpirun");
}

}  // namespace

Environment EnvironmentFromEntries(const std::vector<std::string>& entries) {
  Environment env;
  for (const std::string& entry : entries) {
    const size_t eq = entry.find('=');
    if (eq == std::string::npos || eq == 0) continue;
    env.emplace(entry.substr(0, eq), entry.substr(eq + 1));  // keeps the first
  }
  return env;
}

absl::string_view UpstreamChoiceName(UpstreamChoice choice) {
  switch (choice) {
    case UpstreamChoice::kAuto:
      return "auto";
    case UpstreamChoice::kPmi1:
      return "pmi1";
    case UpstreamChoice::kPmi2:
      return "pmi2";
    case UpstreamChoice::kPmix:
      return "pmix";
  }
  return "?";
}

absl::string_view WireProtocolName(WireProtocol protocol) {
  return protocol == WireProtocol::kPmi2 ? "PMI-2" : "PMI-1";
}

std::string HostEndpoint::Describe() const {
  if (family == HostFamily::kPmix) return "PMIx namespace";
  if (fd.has_value() || port.has_value()) return DescribePmiWire(*this);
  return "nothing";
}

absl::StatusOr<HostEndpoint> DetectHostEndpoint(const Environment& env, UpstreamChoice choice) {
  HostEndpoint endpoint;
  ReadPmix(env, endpoint);
  // A garbage PMI variable only matters when the PMI wire may be used.
  if (choice != UpstreamChoice::kPmix) RETURN_IF_ERROR(ReadPmiWire(env, endpoint));
  RETURN_IF_ERROR(Resolve(endpoint, choice));
  return endpoint;
}

absl::StatusOr<HostEndpoint> DetectHostEndpoint(const std::vector<std::string>& entries,
                                                UpstreamChoice choice) {
  return DetectHostEndpoint(EnvironmentFromEntries(entries), choice);
}

bool IsHostRendezvousVariable(absl::string_view name, PresentedProtocol presented) {
  if (name == "PMI_DEBUG" || name == "PMI2_DEBUG") return false;  // the user's switches
  if (absl::StartsWith(name, "PMI_") || absl::StartsWith(name, "PMI2_")) return true;
  if (name == "PRTE_LAUNCHED") return true;
  if (!absl::StartsWith(name, "PMIX_")) return false;
  // PMIX_MCA_* configure the PMIx library (e.g. PMIX_MCA_gds=hash, which
  // containers need); a PMIx child keeps them, a PMI child has no use for
  // them and MPICH's launcher check is simplest to satisfy with no PMIX_*.
  return presented == PresentedProtocol::kPmiWire || !absl::StartsWith(name, "PMIX_MCA_");
}

std::vector<std::string> HostVariablesToRemove(const Environment& env,
                                               PresentedProtocol presented) {
  std::vector<std::string> names;
  for (const auto& [name, value] : env) {
    if (IsHostRendezvousVariable(name, presented)) names.push_back(name);
  }
  std::sort(names.begin(), names.end());
  return names;
}

}  // namespace pmi_shim::upstream
