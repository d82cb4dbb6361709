// NodePlan: which ranks of a job share this rank's node, as the host
// launcher placed them, and the names under which a node's bridges meet.
// Pure: no I/O.
//
// Flow 4 (design.md §5) needs one PMIx server per node and job: libpmix
// serves local peers' data (PMIX_LOCAL scope, the gds) only to clients of
// the same server, so Open MPI uses shared memory only between ranks one
// server serves. Which ranks are local is the launcher's word, never
// guessed: PMI_process_mapping (Hydra, Slurm, Flux; every form
// process_mapping.h reads), or, when the host gives none, the hostnames the
// bridges exchanged through the host's KVS.
#ifndef PMI_SHIM_BRIDGE_NODE_NODE_PLAN_H_
#define PMI_SHIM_BRIDGE_NODE_NODE_PLAN_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace pmi_shim::node {

struct NodePlan {
  int size = 1;
  int rank = 0;
  // Node index of every rank, renumbered 0..node_count-1 in order of each
  // node's lowest rank (the numbering PmixServer's layout uses too).
  std::vector<int> node_of_rank;
  int node = 0;  // this rank's
  int node_count = 1;
  std::vector<int> local_ranks;  // sorted; this rank's node's

  // The lowest rank on `node`: it publishes the node's name (HostnameKey).
  int LeaderOf(int node_index) const;
  bool LeadsNode() const { return !local_ranks.empty() && local_ranks.front() == rank; }
};

// From the launcher's node id per rank (any ids; renumbered).
// InvalidArgument when `rank` is outside the job or the ids are negative.
absl::StatusOr<NodePlan> PlanFromNodeIds(const std::vector<int>& node_ids, int rank);

// From a PMI_process_mapping value.
absl::StatusOr<NodePlan> PlanFromMapping(absl::string_view mapping, int size, int rank);

// From each rank's hostname (when the host has no process mapping): ranks
// with equal names share a node.
absl::StatusOr<NodePlan> PlanFromHostnames(const std::vector<std::string>& hostname_of_rank,
                                           int rank);

// The host KVS key under which `rank` publishes its hostname at start-up:
// each node's leader does (the node's name for the other nodes' servers),
// and every rank when the host gives no mapping. Never "pmix*" (PMIx's)
// nor "PMI_*" (Hydra's), and short enough for every keylen_max.
std::string HostnameKey(int rank);

// The node directory's name under the publish root, from the host's job id
// (Hydra's kvsname, Slurm's job.step, Flux's jobid, which may start with a
// non-ASCII byte) and the node index: at most 32 path-safe characters of
// the id, a hash of the whole id (ids that differ only in unsafe or cut-off
// characters still differ), and ".nodeN" — a suffix that is not a number,
// so rank-directory sweeps (JOB.RANK.PID) never take it for a pid.
std::string NodeDirectoryName(absl::string_view job, int node_index);

// What a node directory holds (node_rendezvous.h).
inline constexpr char kControlSocketName[] = "control.sock";
inline constexpr char kLockFileName[] = "lock";

}  // namespace pmi_shim::node

#endif  // PMI_SHIM_BRIDGE_NODE_NODE_PLAN_H_
