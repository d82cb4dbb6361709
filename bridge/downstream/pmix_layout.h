// How a PmixServer presents the job to libpmix: its namespace name, which
// ranks share a PMIx "node", and the PMIX_ANL_MAP text of that layout.
// Pure functions, no libpmix.
//
// Data a client puts with PMIX_LOCAL scope only reaches clients of the same
// libpmix server, so a PMIx "node" can hold no more than the ranks one
// PmixServer serves. By default the local ranks form one node and every
// other rank is alone on its own; PmixServer::Options::node_of_rank gives
// the launcher's layout instead, which `pmi-bridge exec`'s node server
// (bridge/node) does: it serves all of a machine's ranks, so the layout is
// the machine's.
#ifndef PMI_SHIM_BRIDGE_DOWNSTREAM_PMIX_LAYOUT_H_
#define PMI_SHIM_BRIDGE_DOWNSTREAM_PMIX_LAYOUT_H_

#include <cstddef>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace pmi_shim::downstream {

// PMIX_MAX_NSLEN: the longest PMIx namespace, without its NUL.
inline constexpr size_t kMaxNspaceLength = 255;

// A PMIx nspace from a PMI kvsname: at most 255 characters of
// [A-Za-z0-9_.-], others replaced by '_'; "pmi-shim" if empty.
std::string SanitizeNspace(absl::string_view kvsname);

struct Layout {
  std::vector<int> node_of_rank;  // node index per rank, indices 0..nodes-1
  std::vector<std::vector<int>> ranks_of_node;
  int local_node = 0;
};

// Validates `node_of_rank` (one entry per rank, putting exactly
// `local_ranks` on the local ranks' node), or derives the default layout
// when it is empty; nodes are renumbered 0..n-1 in order of their lowest
// rank. InvalidArgument for anything inconsistent.
absl::StatusOr<Layout> MakeLayout(int size, const std::vector<int>& local_ranks,
                                  const std::vector<int>& node_of_rank);

// PMI_process_mapping / PMIX_ANL_MAP text for a layout: runs of consecutive
// ranks on one node, merged into RFC 13 3-tuples.
std::string AnlMap(const Layout& layout);

}  // namespace pmi_shim::downstream

#endif  // PMI_SHIM_BRIDGE_DOWNSTREAM_PMIX_LAYOUT_H_
