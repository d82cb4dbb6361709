// What a PMIx v1.2 client is told about its job at start-up, built from the
// job's layout: one set of records for the job (rank WILDCARD) and one per
// rank, in the two forms v1.2 clients read:
//  - dstore records (dstore_format.h), for clients built with ds12: job
//    keys plus, per node, NODENAME = "r,r,..." (the expanded proc map);
//  - the packed job data of the REQ reply, for clients that keep job data
//    in memory: job KVALs, a PMIX_MAP_BLOB (nodes and their ranks) and a
//    PMIX_PROC_BLOB per rank (INT rank, then that rank's KVALs), which is
//    how a v1.2 server packs what its host registered (pmix_server.c
//    _register_nspace).
//
// "Local" means the node of the rank this server serves: the layout comes
// from the host (PMI_process_mapping, the node names the bridges exchanged),
// so MPI libraries see the same nodes the launcher placed the ranks on.
// Pure.
#ifndef PMI_SHIM_PROTOCOL_PMIX_V1_JOB_DATA_H_
#define PMI_SHIM_PROTOCOL_PMIX_V1_JOB_DATA_H_

#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "protocol/pmix_v1/dstore_format.h"

namespace pmi_shim::protocol::pmix_v1 {

struct JobLayout {
  std::string nspace;
  int size = 1;
  int universe_size = 1;
  int appnum = 0;
  std::vector<int> node_of_rank;        // node index of each rank, 0-based
  std::vector<std::string> node_names;  // per node index
  std::string anl_map;                  // PMI_process_mapping, if known
};

// InvalidArgument when the layout is inconsistent (sizes, indices, names).
absl::Status ValidateLayout(const JobLayout& layout);

// Records for rank WILDCARD as seen from `local_node`.
std::vector<dstore::Record> JobRecords(const JobLayout& layout, int local_node);
// Records for one rank.
std::vector<dstore::Record> RankRecords(const JobLayout& layout, int rank);
// The job data of the REQ reply (after the nspace string).
std::string PackedJobData(const JobLayout& layout, int local_node);

// Ranks of `node` in order, and the comma-joined form v1.2 uses.
std::vector<int> RanksOnNode(const JobLayout& layout, int node);
std::string RankList(const std::vector<int>& ranks);

}  // namespace pmi_shim::protocol::pmix_v1

#endif  // PMI_SHIM_PROTOCOL_PMIX_V1_JOB_DATA_H_
