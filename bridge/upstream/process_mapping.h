// PMI_process_mapping values: which ranks share a node.
//
// The value is "(vector,B1,B2,...)" where each block "(node,nnodes,ppn)"
// gives `nnodes` consecutive node ids starting at `node`, each holding `ppn`
// consecutive ranks (RFC 13; reference/protocols.md §3). Only the plain
// 3-tuple form is written, because older clients (MPICH-3, MVAPICH2) do not
// parse Hydra 4.1's bare-id and "[...]xN" extensions; PlainProcessMapping
// reads those too and rewrites a host's value into the plain form.
#ifndef PMI_SHIM_BRIDGE_UPSTREAM_PROCESS_MAPPING_H_
#define PMI_SHIM_BRIDGE_UPSTREAM_PROCESS_MAPPING_H_

#include <cstddef>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"

namespace pmi_shim::upstream {

struct MappingBlock {
  int first_node = 0;
  int node_count = 1;
  int ranks_per_node = 1;
};

std::string FormatProcessMapping(const std::vector<MappingBlock>& blocks);

// All `size` ranks on one node: "(vector,(0,1,size))".
std::string SingleNodeMapping(int size);

// The plain blocks of a layout given as the node id of each rank in order:
// each run of ranks on one node is a block, and runs on consecutive nodes
// that hold the same number of ranks merge into one, so {0,0,1,1,2} gives
// (0,2,2),(2,1,1).
std::vector<MappingBlock> PlainBlocks(absl::Span<const int> node_of_rank);

// Rewrites a PMI_process_mapping for clients that only know RFC 13's plain
// "(vector,(node,nnodes,ppn),...)" form. Hydra >= 4.1 also writes bare node
// ids ("1" = "(1,1,1)") and repeat groups ("[(0,2,1)]x2"), which MPICH-3,
// MVAPICH2 and vendor PMI libraries cannot parse (protocols.md §3). The
// value is read as MPICH's MPL_rankmap_str_to_array reads it for `size`
// ranks and written back with 3-tuples only, for every rank; when that is
// longer than `max_length` and the layout repeats from rank 0 on node 0, one
// period is written instead, since every reader repeats a short map.
// A value that already uses only 3-tuples is returned unchanged.
// Errors: InvalidArgument when the value cannot be parsed (or names no rank),
// OutOfRange when the result would be longer than `max_length` (a client
// with that value limit could not read it; Hydra and Flux then leave the key
// out, and MPICH exchanges host names instead).
absl::StatusOr<std::string> PlainProcessMapping(absl::string_view mapping, int size,
                                                size_t max_length = 1024);

// The node id of each of the `size` ranks, read as PlainProcessMapping reads
// a value (3-tuples, Hydra 4.1's bare ids and "[...]xN" groups, short maps
// repeated). InvalidArgument when the value cannot be parsed.
absl::StatusOr<std::vector<int>> NodeOfRank(absl::string_view mapping, int size);

}  // namespace pmi_shim::upstream

#endif  // PMI_SHIM_BRIDGE_UPSTREAM_PROCESS_MAPPING_H_
