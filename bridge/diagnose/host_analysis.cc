#include "bridge/diagnose/host_analysis.h"

#include <algorithm>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "image/image_scan.h"

namespace pmi_shim::diagnose {

using image::kProtoPmi1;
using image::kProtoPmi2;
using image::kProtoPmix;
namespace {

std::string Get(const upstream::Environment& env, const char* name) {
  auto it = env.find(name);
  return it == env.end() ? "" : it->second;
}

bool HasPrefix(const upstream::Environment& env, absl::string_view prefix) {
  for (const auto& [name, value] : env) {
    if (absl::StartsWith(name, prefix)) return true;
  }
  return false;
}

// protocols.md §4.2: the newest URI name a server exports tells its series.
std::string VersionFromUriNames(const std::vector<std::string>& names) {
  auto has = [&](const char* n) { return std::find(names.begin(), names.end(), n) != names.end(); };
  if (has("PMIX_SERVER_URI61") || has("PMIX_SERVER_URI20")) return "6.1+";
  if (has("PMIX_SERVER_URI51")) return "6.0";
  if (has("PMIX_SERVER_URI41")) return "4.1-5.x";
  if (has("PMIX_SERVER_URI4")) return "4.0";
  if (has("PMIX_SERVER_URI3")) return "3.x";
  if (has("PMIX_SERVER_URI21")) return "2.1";
  if (has("PMIX_SERVER_URI2")) return "2.0";
  if (has("PMIX_SERVER_URI")) return "1.x";
  return "";
}

}  // namespace

bool HostReport::Serves(const std::string& protocol) const {
  return std::find(server_protocols.begin(), server_protocols.end(), protocol) !=
         server_protocols.end();
}

bool HostReport::UsesSharedMemoryGds() const {
  return std::any_of(gds_modules.begin(), gds_modules.end(), [](const std::string& m) {
    return m == "ds12" || m == "ds21" || absl::StartsWith(m, "shmem");
  });
}

namespace {

// PMIx facts are recorded whenever present, even when a PMI rendezvous wins.
void ReadPmixFacts(const upstream::Environment& env, HostReport& report) {
  for (const auto& [name, value] : env) {
    if (absl::StartsWith(name, "PMIX_SERVER_URI")) report.pmix_uri_names.push_back(name);
  }
  std::sort(report.pmix_uri_names.begin(), report.pmix_uri_names.end());
  report.pmix_version = Get(env, "PMIX_VERSION");
  if (report.pmix_version.empty() && !report.pmix_uri_names.empty()) {
    report.pmix_version = VersionFromUriNames(report.pmix_uri_names);
    report.pmix_version_inferred = !report.pmix_version.empty();
  }
  for (const std::string& name : report.pmix_uri_names) {
    const std::string value = Get(env, name.c_str());
    if (name == "PMIX_SERVER_URI" || name == "PMIX_SERVER_URI2USOCK") {
      // v1.x usock value: nspace:rank:path (§4.2).
      report.pmix_usock = true;
      std::vector<std::string> parts = absl::StrSplit(value, absl::MaxSplits(':', 2));
      if (parts.size() == 3) report.pmix_usock_path = parts[2];
    }
    if (absl::StrContains(value, "tcp4://") || absl::StrContains(value, "tcp6://")) {
      report.pmix_tcp = true;
      if (absl::StrContains(value, "://127.") || absl::StrContains(value, "://[::1]"))
        report.pmix_loopback = true;
    }
  }
  report.security_modes = absl::StrSplit(Get(env, "PMIX_SECURITY_MODE"), ',', absl::SkipEmpty());
  report.gds_modules = absl::StrSplit(Get(env, "PMIX_GDS_MODULE"), ',', absl::SkipEmpty());
  report.server_tmpdir = Get(env, "PMIX_SERVER_TMPDIR");
  report.system_tmpdir = Get(env, "PMIX_SYSTEM_TMPDIR");
}

// A PMI_FD / PMI_PORT host: which launcher, and what it serves.
void DescribePmiWireHost(const upstream::Environment& env, const upstream::HostEndpoint& endpoint,
                         HostReport& report) {
  if (endpoint.fd.has_value()) {
    report.rendezvous = "PMI_FD";
    report.rendezvous_value = std::to_string(*endpoint.fd);
  } else {
    report.rendezvous = "PMI_PORT";
    report.rendezvous_value =
        absl::StrCat(endpoint.port_host.value_or(""), ":", endpoint.port.value_or(0));
  }
  if (env.contains("FLUX_URI") || env.contains("FLUX_JOB_ID")) {
    // Flux has no PMI-2 wire server (protocols.md §1.9, §2.7).
    report.launcher = kLauncherFlux;
    report.server_protocols = {kProtoPmi1};
  } else if (endpoint.jobid.has_value() || HasPrefix(env, "SLURM_")) {
    // Slurm mpi/pmi2 serves both; the first task's init fixes one per step (§6 pitfall 16).
    report.launcher = kLauncherSlurmPmi2;
    report.server_protocols = {kProtoPmi1, kProtoPmi2};
  } else {
    // PMI_FD/PMI_PORT without Slurm or Flux markers: hydra (it also sets
    // HYDI_CONTROL_FD); hydra picks PMI-1 or PMI-2 by the client's init.
    report.launcher = env.contains("HYDI_CONTROL_FD") || report.rendezvous == "PMI_PORT"
                          ? kLauncherHydra
                          : kLauncherPmiWire;
    report.server_protocols = {kProtoPmi1, kProtoPmi2};
  }
}

// A PMIx host: the URI a client would pick (newest first) and the launcher.
void DescribePmixHost(const upstream::Environment& env, HostReport& report) {
  report.rendezvous = "PMIx";
  report.server_protocols = {kProtoPmix};
  for (const char* preferred : {"PMIX_SERVER_URI61", "PMIX_SERVER_URI51", "PMIX_SERVER_URI41",
                                "PMIX_SERVER_URI4", "PMIX_SERVER_URI3", "PMIX_SERVER_URI21",
                                "PMIX_SERVER_URI2", "PMIX_SERVER_URI20", "PMIX_SERVER_URI"}) {
    if (env.contains(preferred)) {
      report.rendezvous_value = absl::StrCat(preferred, "=", Get(env, preferred));
      break;
    }
  }
  if (env.contains("PRTE_LAUNCHED") || HasPrefix(env, "OMPI_")) {
    report.launcher = kLauncherOpenMpi;
  } else if (HasPrefix(env, "SLURM_")) {
    report.launcher = kLauncherSlurmPmix;
  } else {
    report.launcher = kLauncherPmix;
  }
  if (report.pmix_uri_names.empty())
    report.notes.push_back(
        "PMIX_NAMESPACE without any PMIX_SERVER_URI*: clients cannot find the server");
}

}  // namespace

HostReport AnalyzeHost(const upstream::Environment& env, const std::string& source) {
  HostReport report;
  report.source = source;
  report.launcher = kLauncherNone;
  absl::StatusOr<upstream::HostEndpoint> endpoint =
      upstream::DetectHostEndpoint(env, upstream::UpstreamChoice::kAuto);
  if (!endpoint.ok()) {
    report.notes.push_back(std::string(endpoint.status().message()));
  } else {
    for (const std::string& w : endpoint->warnings) report.notes.push_back(w);
  }
  ReadPmixFacts(env, report);
  if (!endpoint.ok() || endpoint->family == upstream::HostFamily::kNone) return report;
  if (endpoint->family == upstream::HostFamily::kPmiWire) {
    DescribePmiWireHost(env, *endpoint, report);
  } else {
    DescribePmixHost(env, report);
  }
  return report;
}

std::string FormatHostReport(const HostReport& r) {
  std::string out = absl::StrCat("Host (", r.source, ")\n  launcher: ", r.launcher, "\n");
  if (r.rendezvous.empty()) {
    absl::StrAppend(
        &out, "  rendezvous: none (no PMI_FD, PMI_PORT+PMI_ID, PMI_SIZE or PMIX_NAMESPACE)\n");
  } else {
    absl::StrAppend(&out, "  rendezvous: ", r.rendezvous, " ", r.rendezvous_value,
                    "\n  serves: ", absl::StrJoin(r.server_protocols, ", "), "\n");
  }
  if (!r.pmix_uri_names.empty() || !r.pmix_version.empty()) {
    absl::StrAppend(
        &out, "  PMIx server: ", r.pmix_version.empty() ? "?" : r.pmix_version,
        r.pmix_version_inferred ? " (from URI names)" : "", "; URIs ",
        absl::StrJoin(r.pmix_uri_names, " "), "\n  security: ",
        r.security_modes.empty() ? "(default)" : absl::StrJoin(r.security_modes, ","),
        "; gds: ", r.gds_modules.empty() ? "(default)" : absl::StrJoin(r.gds_modules, ","),
        r.server_tmpdir.empty() ? "" : absl::StrCat("; tmpdir ", r.server_tmpdir), "\n");
  }
  for (const std::string& note : r.notes) absl::StrAppend(&out, "  note: ", note, "\n");
  return out;
}

nlohmann::json HostReportToJson(const HostReport& r) {
  return {{"source", r.source},
          {"launcher", r.launcher},
          {"rendezvous", r.rendezvous},
          {"rendezvous_value", r.rendezvous_value},
          {"server_protocols", r.server_protocols},
          {"pmix_version", r.pmix_version},
          {"pmix_version_inferred", r.pmix_version_inferred},
          {"pmix_uri_names", r.pmix_uri_names},
          {"pmix_tcp", r.pmix_tcp},
          {"pmix_loopback", r.pmix_loopback},
          {"pmix_usock", r.pmix_usock},
          {"pmix_usock_path", r.pmix_usock_path},
          {"security_modes", r.security_modes},
          {"gds_modules", r.gds_modules},
          {"server_tmpdir", r.server_tmpdir},
          {"system_tmpdir", r.system_tmpdir},
          {"notes", r.notes}};
}

}  // namespace pmi_shim::diagnose
