// PMI_process_mapping values: which ranks share a node.
//
// The value is "(vector,B1,B2,...)" where each block "(node,nnodes,ppn)"
// gives `nnodes` consecutive node ids starting at `node`, each holding `ppn`
// consecutive ranks (RFC 13; reference/protocols.md §3). Only the plain
// 3-tuple form is written, because older clients (MPICH-3, MVAPICH2) do not
// parse Hydra 4.1's bare-id and "[...]xN" extensions.
#ifndef PMI_SHIM_BRIDGE_UPSTREAM_PROCESS_MAPPING_H_
#define PMI_SHIM_BRIDGE_UPSTREAM_PROCESS_MAPPING_H_

#include <string>
#include <vector>

namespace pmi_shim::upstream {

struct MappingBlock {
  int first_node = 0;
  int node_count = 1;
  int ranks_per_node = 1;
};

std::string FormatProcessMapping(const std::vector<MappingBlock>& blocks);

// All `size` ranks on one node: "(vector,(0,1,size))".
std::string SingleNodeMapping(int size);

}  // namespace pmi_shim::upstream

#endif  // PMI_SHIM_BRIDGE_UPSTREAM_PROCESS_MAPPING_H_
