// Host analysis: which PMI server a rank's environment points at, which
// protocols and versions it serves, and the PMIx details that matter across
// a container boundary. Pure over an environment map; reading the
// environment (own, a file, /proc/PID/environ) is in host_env_source.h.
//
// The rendezvous itself is read by upstream::DetectHostEndpoint, the same
// code `pmi-bridge exec` uses, so diagnose and exec never disagree.
#ifndef PMI_SHIM_BRIDGE_DIAGNOSE_HOST_ANALYSIS_H_
#define PMI_SHIM_BRIDGE_DIAGNOSE_HOST_ANALYSIS_H_

#include <string>
#include <vector>

#include "bridge/upstream/host_endpoint.h"
#include "nlohmann/json.hpp"

namespace pmi_shim::diagnose {

// Stable launcher names (in --json).
inline constexpr char kLauncherNone[] = "none";
inline constexpr char kLauncherHydra[] = "hydra";
inline constexpr char kLauncherSlurmPmi2[] = "slurm-pmi2";
inline constexpr char kLauncherFlux[] = "flux";
inline constexpr char kLauncherOpenMpi[] = "openmpi-prrte";
inline constexpr char kLauncherSlurmPmix[] = "slurm-pmix";
inline constexpr char kLauncherPmix[] = "pmix-server";
inline constexpr char kLauncherPmiWire[] = "pmi-wire";

struct HostReport {
  std::string source;    // "environment", "file F", "pid N"
  std::string launcher;  // kLauncher*
  // "PMI_FD", "PMI_PORT", "PMIx" or "" (none).
  std::string rendezvous;
  std::string rendezvous_value;  // "6", "vm:33605", the URI the newest client would pick
  // What the server answers, in order: PMI-1/PMI-2 (hydra, Slurm), PMI-1
  // (Flux, protocols.md §1.9), PMIx.
  std::vector<std::string> server_protocols;
  std::string pmix_version;  // PMIX_VERSION, else inferred from the URI names ("4.1+")
  bool pmix_version_inferred = false;
  std::vector<std::string> pmix_uri_names;  // PMIX_SERVER_URI*, sorted
  bool pmix_tcp = false;                    // a tcp4:// or tcp6:// URI
  bool pmix_loopback = false;               // ... on 127.0.0.1 / ::1
  bool pmix_usock = false;                  // PMIX_SERVER_URI (v1.x usock) or URI2USOCK
  std::string pmix_usock_path;
  std::vector<std::string> security_modes;  // PMIX_SECURITY_MODE
  std::vector<std::string> gds_modules;     // PMIX_GDS_MODULE
  std::string server_tmpdir;                // PMIX_SERVER_TMPDIR
  std::string system_tmpdir;                // PMIX_SYSTEM_TMPDIR
  std::vector<std::string> notes;           // warnings from DetectHostEndpoint and ours

  bool Serves(const std::string& protocol) const;
  bool UsesSharedMemoryGds() const;  // ds12, ds21 or shmem* listed
};

HostReport AnalyzeHost(const upstream::Environment& env, const std::string& source);

std::string FormatHostReport(const HostReport& report);
nlohmann::json HostReportToJson(const HostReport& report);

}  // namespace pmi_shim::diagnose

#endif  // PMI_SHIM_BRIDGE_DIAGNOSE_HOST_ANALYSIS_H_
