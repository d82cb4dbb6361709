#include "hook/planner.h"

#include <arpa/inet.h>

#include <algorithm>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/strip.h"
#include "common/rendezvous.h"
#include "common/status_macros.h"
#include "hook/decision.h"
#include "hook/paths.h"

namespace pmi_shim::hook {
namespace {

constexpr char kTmpdirVariables[][20] = {"PMIX_SERVER_TMPDIR", "PMIX_SYSTEM_TMPDIR"};

bool IsLoopback(const std::string& address) {
  in_addr parsed{};
  if (inet_pton(AF_INET, address.c_str(), &parsed) != 1) return false;
  return (ntohl(parsed.s_addr) >> 24) == 127;
}

// "HOST:PORT" with an IPv4 literal or localhost; the rest goes to `note`.
Endpoint ParseHostPort(const std::string& source, absl::string_view host_port) {
  Endpoint endpoint;
  const size_t colon = host_port.rfind(':');
  int port = 0;
  if (colon == absl::string_view::npos || !absl::SimpleAtoi(host_port.substr(colon + 1), &port) ||
      port < 1 || port > 65535) {
    endpoint.note = absl::StrCat(source, ": cannot read HOST:PORT from '", host_port, "'");
    return endpoint;
  }
  std::string host(host_port.substr(0, colon));
  if (host == "localhost") host = "127.0.0.1";
  if (!IsLoopback(host)) {
    endpoint.note = absl::StrCat(source, ": ", host_port,
                                 " is not a loopback address; pmi-shim relays only 127.0.0.0/8, "
                                 "so the container must reach it through its own network");
    return endpoint;
  }
  endpoint.address = host;
  endpoint.port = port;
  return endpoint;
}

class Planner {
 public:
  Planner(const OciState& state, const ContainerConfig& config, const AdminConfig& admin,
          const PlanOptions& options)
      : state_(state), config_(config), admin_(admin), options_(options) {}

  absl::StatusOr<Plan> Build() {
    FillIdentity();
    RETURN_IF_ERROR(AddRendezvousDir());
    AddToolsDir();
    RETURN_IF_ERROR(AddPmixTmpdirs());
    AddRelays();
    AddFdNote();
    DropMountsTheEngineMade();
    return std::move(plan_);
  }

 private:
  void FillIdentity() {
    plan_.container_id = state_.id;
    plan_.pid = state_.pid;
    plan_.bundle = state_.bundle;
    plan_.rootfs = config_.rootfs;
    plan_.uid = config_.uid;
    plan_.gid = config_.gid;
    plan_.private_netns = config_.network_namespace;
    if (!config_.network_namespace) return;
    if (!config_.network_namespace_path.empty()) {
      plan_.netns_path = config_.network_namespace_path;
    } else if (state_.pid > 0) {
      plan_.netns_path = absl::StrCat("/proc/", state_.pid, "/ns/net");
    }  // else: runtime mode, before the namespace exists
  }

  // Lexical policy for a user-named host path; "" when it may be mounted.
  std::string Refusal(const std::string& path) const {
    if (!IsNormalAbsolute(path)) return "is not a normalized absolute path";
    if (AllowedParent(path, admin_.allowed_dirs).empty()) {
      return absl::StrCat("is not below an allowed directory (",
                          absl::StrJoin(admin_.allowed_dirs, ", "), ")");
    }
    return "";
  }

  absl::Status CheckOnHost(const MountStep& step, const std::string& variable) const {
    if (!options_.check_host_path) return absl::OkStatus();
    absl::Status checked = options_.check_host_path(step, config_.uid);
    if (checked.ok()) return checked;
    return absl::Status(checked.code(),
                        absl::StrCat(variable, "=", step.source, ": ", checked.message()));
  }

  absl::Status AddRendezvousDir() {
    bool found = false;
    const std::string dir = EnvValue(config_.env, rendezvous::kDirVariable, &found);
    if (!found) return absl::OkStatus();
    if (std::string refusal = Refusal(dir); !refusal.empty()) {
      return absl::PermissionDeniedError(absl::StrCat(
          rendezvous::kDirVariable, "=", dir, " in process.env ", refusal,
          "; run pmi-bridge with its rank directories there, or ask the administrator to "
          "allow the directory in allowed_dirs"));
    }
    MountStep step{dir, rendezvous::kContainerDir, MountStep::Kind::kDirectory,
                   // Read-only suffices: connect() needs write permission on
                   // the socket inode, which a read-only bind mount does not
                   // remove (checked on Linux 6.x: connect through an ro bind
                   // works; a 0600 socket still refuses another uid).
                   /*read_only=*/true,
                   absl::StrCat("pmi-bridge's rank directory (", rendezvous::kDirVariable, ")")};
    RETURN_IF_ERROR(CheckOnHost(step, rendezvous::kDirVariable));
    plan_.mounts.push_back(std::move(step));
    return absl::OkStatus();
  }

  void AddToolsDir() {
    if (options_.tools_dir.empty()) return;
    plan_.mounts.push_back({options_.tools_dir, rendezvous::kContainerToolsDir,
                            MountStep::Kind::kDirectory, /*read_only=*/true,
                            "pmi-shim's programs (pmi-shim-client)"});
  }

  bool CoveredByPlannedMount(const std::string& path) const {
    for (const MountStep& step : plan_.mounts) {
      if (step.source != step.target) continue;  // visible elsewhere in the container
      if (step.target == path || IsStrictlyUnder(path, step.target)) return true;
    }
    return false;
  }

  // PMIx keeps its shared-memory data stores (gds ds12/ds21) and v1 Unix
  // sockets in these dirs; the client maps them read-write at the same path.
  absl::Status AddPmixTmpdirs() {
    std::vector<std::string> refused;
    std::vector<std::pair<std::string, std::string>> wanted;
    for (const char* variable : kTmpdirVariables) {
      bool found = false;
      std::string dir = EnvValue(config_.env, variable, &found);
      if (found && !dir.empty()) wanted.emplace_back(variable, std::move(dir));
    }
    // Parents first, so a child already inside a planned mount is skipped.
    std::sort(wanted.begin(), wanted.end(),
              [](const auto& a, const auto& b) { return a.second.size() < b.second.size(); });
    for (const auto& [variable, dir] : wanted) {
      if (std::string refusal = Refusal(dir); !refusal.empty()) {
        refused.push_back(absl::StrCat(variable, "=", dir, " ", refusal));
        continue;
      }
      if (CoveredByPlannedMount(dir)) continue;
      MountStep step{
          dir, dir, MountStep::Kind::kDirectory, /*read_only=*/false,
          absl::StrCat("PMIx server tmpdir (", variable, "): shared-memory data stores")};
      RETURN_IF_ERROR(CheckOnHost(step, variable));
      plan_.mounts.push_back(std::move(step));
    }
    AddGdsAdvice(refused);
    return absl::OkStatus();
  }

  void AddGdsAdvice(const std::vector<std::string>& refused) {
    for (const std::string& reason : refused) plan_.notes.push_back(reason + "; not mounted");
    const std::string server_tmpdir = EnvValue(config_.env, "PMIX_SERVER_TMPDIR");
    if (server_tmpdir.empty() || CoveredByPlannedMount(server_tmpdir)) return;
    plan_.notes.push_back(
        "without the server tmpdir the client cannot map PMIx shared-memory data stores: "
        "set PMIX_GDS_MODULE=hash and PMIX_MCA_gds=hash in the container (runtime mode adds "
        "them to process.env)");
    plan_.env.push_back("PMIX_GDS_MODULE=hash");
    plan_.env.push_back("PMIX_MCA_gds=hash");
  }

  std::vector<Endpoint> CollectEndpoints() const {
    std::vector<Endpoint> endpoints;
    for (const std::string& entry : config_.env) {
      const size_t equals = entry.find('=');
      if (equals == std::string::npos) continue;
      const std::string name = entry.substr(0, equals);
      const std::string value = entry.substr(equals + 1);
      if (IsPmixServerUriName(name)) endpoints.push_back(ParsePmixUri(name, value));
      if (name == "PMI_PORT") endpoints.push_back(ParsePmiPort(value));
    }
    return endpoints;
  }

  void AddRelays() {
    bool loopback_seen = false;
    for (const Endpoint& endpoint : CollectEndpoints()) {
      if (!endpoint.note.empty()) {
        if (std::find(plan_.notes.begin(), plan_.notes.end(), endpoint.note) == plan_.notes.end()) {
          plan_.notes.push_back(endpoint.note);
        }
        continue;
      }
      loopback_seen = true;
      if (!plan_.private_netns || HasRelay(endpoint)) continue;
      plan_.relays.push_back({endpoint.address, endpoint.port,
                              "host PMI server on loopback, unreachable from the container's "
                              "network namespace"});
    }
    if (loopback_seen && !plan_.private_netns) {
      plan_.notes.push_back(
          "the container shares the host's network namespace: its PMI "
          "server on loopback is reachable without a relay");
    }
  }

  bool HasRelay(const Endpoint& endpoint) const {
    return std::any_of(plan_.relays.begin(), plan_.relays.end(), [&](const RelayStep& relay) {
      return relay.address == endpoint.address && relay.port == endpoint.port;
    });
  }

  void AddFdNote() {
    bool found = false;
    EnvValue(config_.env, "PMI_FD", &found);
    if (!found) return;
    plan_.notes.push_back(
        "PMI_FD is set but a file descriptor cannot cross into a container: start the engine "
        "under 'pmi-bridge exec' so the rank gets PMI_SHIM_DIR instead");
  }

  // A mount the engine already has at the same target (a user's -v, or the
  // runtime wrapper's config edit) is not made twice.
  void DropMountsTheEngineMade() {
    std::vector<MountStep> kept;
    for (MountStep& step : plan_.mounts) {
      auto same = std::find_if(
          config_.mounts.begin(), config_.mounts.end(),
          [&](const OciMount& m) { return NormalizePath("/", m.destination) == step.target; });
      if (same == config_.mounts.end()) {
        kept.push_back(std::move(step));
      } else {
        plan_.notes.push_back(absl::StrCat(step.target, " is already mounted by the engine (from ",
                                           same->source, "); not mounted again"));
      }
    }
    plan_.mounts = std::move(kept);
  }

  const OciState& state_;
  const ContainerConfig& config_;
  const AdminConfig& admin_;
  const PlanOptions& options_;
  Plan plan_;
};

}  // namespace

Endpoint ParsePmixUri(const std::string& name, const std::string& value) {
  // "NSPACE.RANK;tcp4://ADDRESS:PORT" (PMIx >= 2); PMIx v1 used a Unix socket path.
  const size_t semicolon = value.find(';');
  absl::string_view uri = semicolon == std::string::npos
                              ? absl::string_view(value)
                              : absl::string_view(value).substr(semicolon + 1);
  const std::string source = absl::StrCat(name);
  if (absl::ConsumePrefix(&uri, "tcp4://")) return ParseHostPort(source, uri);
  Endpoint endpoint;
  if (absl::StartsWith(uri, "tcp6://")) {
    endpoint.note = absl::StrCat(source, ": IPv6 rendezvous (", uri,
                                 ") is not relayed; make the server use tcp4 on 127.0.0.1");
  } else {
    endpoint.note = absl::StrCat(source, ": '", value,
                                 "' is not a tcp4:// URI; a Unix-socket rendezvous reaches the "
                                 "container through the PMIx tmpdir mount");
  }
  return endpoint;
}

Endpoint ParsePmiPort(const std::string& value) { return ParseHostPort("PMI_PORT", value); }

absl::StatusOr<Plan> BuildPlan(const OciState& state, const ContainerConfig& config,
                               const AdminConfig& admin, const PlanOptions& options) {
  return Planner(state, config, admin, options).Build();
}

}  // namespace pmi_shim::hook
