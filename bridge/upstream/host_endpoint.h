// HostEndpoint: where the real launcher's PMI server is, read from the
// environment that `pmi-bridge exec` inherited. Pure logic, no I/O.
//
// A launcher hands each rank its rendezvous in environment variables
// (reference/protocols.md §1.1, §2.1, §4.1):
//   hydra (default)   PMI_FD, PMI_RANK, PMI_SIZE
//   hydra -pmi-port   PMI_PORT=host:port, PMI_ID (no PMI_RANK/PMI_SIZE)
//   Slurm --mpi=pmi2  PMI_FD, PMI_RANK, PMI_SIZE, PMI_JOBID
//   Flux              PMI_FD, PMI_RANK, PMI_SIZE (PMI-1 only)
//   mpirun/PRRTE, Slurm --mpi=pmix: PMIX_NAMESPACE, PMIX_RANK, PMIX_SERVER_URI*
// DetectHostEndpoint applies MPICH's client rules to that environment:
// PMI_FD is checked before PMI_PORT; the PMI wire is offered when PMI_FD,
// PMI_SIZE, or PMI_PORT with PMI_ID is set; PMIx when PMIX_NAMESPACE is.
//
//   ASSIGN_OR_RETURN(HostEndpoint host, DetectHostEndpoint(environ_entries, choice));
//   for (const std::string& w : host.warnings) log::Warning(w);
//
// Both families present (an outer launcher's variables leaked through) is
// what MPICH calls ambiguous and refuses. With --upstream auto the bridge
// decides instead, and warns: PMI_FD wins, because an inherited PMI socket
// is the strongest evidence of which launcher started this process (Open
// MPI and PRRTE close inherited descriptors in the processes they start, so
// a PMI_FD that survived belongs to the innermost launcher); otherwise PMIx
// wins, because a PMIx server always hands its own children a fresh
// PMIX_NAMESPACE, while a PMI_PORT/PMI_SIZE without PMI_FD is more often
// inherited text. An explicit --upstream settles it without a warning.
#ifndef PMI_SHIM_BRIDGE_UPSTREAM_HOST_ENDPOINT_H_
#define PMI_SHIM_BRIDGE_UPSTREAM_HOST_ENDPOINT_H_

#include <optional>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace pmi_shim::upstream {

// NAME -> value.
using Environment = absl::flat_hash_map<std::string, std::string>;

// Builds an Environment from "NAME=value" entries (as in environ). Entries
// without '=' are skipped; the first entry for a name wins, as getenv sees it.
Environment EnvironmentFromEntries(const std::vector<std::string>& entries);

// `pmi-bridge exec --upstream`.
enum class UpstreamChoice { kAuto, kPmi1, kPmi2, kPmix };

// Which kind of server the launcher offers.
enum class HostFamily { kNone, kPmiWire, kPmix };

// The PMI wire protocol the bridge speaks to a kPmiWire host.
enum class WireProtocol { kPmi1, kPmi2 };

absl::string_view UpstreamChoiceName(UpstreamChoice choice);  // "auto", "pmi1", ...
absl::string_view WireProtocolName(WireProtocol protocol);    // "PMI-1", "PMI-2"

struct HostEndpoint {
  HostFamily family = HostFamily::kNone;
  // For kPmiWire: the protocol to speak. --upstream auto picks PMI-2 under
  // Slurm (PMI_JOBID set): it is Slurm's own protocol, carries full
  // 1024-byte values (Slurm's PMI-1 server reads a request in one 1024-byte
  // read) and node attributes. Elsewhere PMI-1, which every PMI launcher
  // serves (Flux has no PMI-2).
  WireProtocol protocol = WireProtocol::kPmi1;

  // PMI wire rendezvous (each present only when its variable was set).
  std::optional<int> fd;                 // PMI_FD
  std::optional<std::string> port_host;  // PMI_PORT, before the first ':'
  std::optional<int> port;               // PMI_PORT, after the first ':'
  std::optional<int> id;                 // PMI_ID: the identity for initack / PMI-2 pmirank
  std::optional<int> rank;               // PMI_RANK
  std::optional<int> size;               // PMI_SIZE
  std::optional<std::string> jobid;      // PMI_JOBID (Slurm: "<job>.<step>")
  bool spawned = false;                  // PMI_SPAWNED=1

  // PMIx rendezvous: only recorded here; the PMIx upstream reads the values
  // itself from the environment.
  bool has_pmix_namespace = false;                 // PMIX_NAMESPACE
  bool has_pmix_rank = false;                      // PMIX_RANK
  std::vector<std::string> pmix_server_uri_names;  // PMIX_SERVER_URI*, sorted

  // One-line notes for the log (e.g. how an ambiguous environment was read).
  std::vector<std::string> warnings;

  // "PMI_FD=5", "PMI_PORT=node1:39000", "PMIx namespace" or "nothing":
  // for messages that must say which rendezvous failed.
  std::string Describe() const;
};

// Reads the environment. Errors (InvalidArgument / NotFound) are one line
// that says what is wrong and what to do.
absl::StatusOr<HostEndpoint> DetectHostEndpoint(const Environment& env, UpstreamChoice choice);
absl::StatusOr<HostEndpoint> DetectHostEndpoint(const std::vector<std::string>& entries,
                                                UpstreamChoice choice);

// The protocol the bridge presents to the program it starts.
enum class PresentedProtocol { kPmiWire, kPmix };

// Whether `name` is part of a host rendezvous that must not reach a child
// which is given `presented`: the bridge sets the child's own PMI_* (or
// PMIx) variables, and a leftover host PMI_FD/PMI_PORT would point the
// child's library at the host; any PMIX_*/PRTE_LAUNCHED makes MPICH refuse
// PMI-1/PMI-2 ("launcher not compatible"), and PMI_SIZE next to
// PMIX_NAMESPACE is a hard error (reference/protocols.md §6 pitfall 12).
// The user's debug switches (PMI_DEBUG, PMI2_DEBUG) are kept.
bool IsHostRendezvousVariable(absl::string_view name, PresentedProtocol presented);

// The names in `env` for which IsHostRendezvousVariable holds, sorted.
std::vector<std::string> HostVariablesToRemove(const Environment& env, PresentedProtocol presented);

}  // namespace pmi_shim::upstream

#endif  // PMI_SHIM_BRIDGE_UPSTREAM_HOST_ENDPOINT_H_
