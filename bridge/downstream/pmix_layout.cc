#include "bridge/downstream/pmix_layout.h"

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace pmi_shim::downstream {

std::string SanitizeNspace(absl::string_view kvsname) {
  std::string out;
  for (char c : kvsname.substr(0, kMaxNspaceLength)) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '_' || c == '-' || c == '.';
    out += ok ? c : '_';
  }
  return out.empty() ? "pmi-shim" : out;
}

absl::StatusOr<Layout> MakeLayout(int size, const std::vector<int>& local_ranks,
                                  const std::vector<int>& node_of_rank) {
  if (size < 1)
    return absl::InvalidArgumentError(absl::StrCat("job size ", size, " is not positive"));
  if (local_ranks.empty()) return absl::InvalidArgumentError("no local ranks");
  for (size_t i = 0; i < local_ranks.size(); ++i) {
    if (local_ranks[i] < 0 || local_ranks[i] >= size ||
        (i > 0 && local_ranks[i] <= local_ranks[i - 1])) {
      return absl::InvalidArgumentError(
          absl::StrCat("local ranks ", absl::StrJoin(local_ranks, ","),
                       " are not sorted, unique ranks of a job of ", size));
    }
  }
  std::vector<int> given = node_of_rank;
  if (given.empty()) {
    // Local ranks share a node; every other rank is alone on its own.
    given.assign(size, -1);
    for (int rank : local_ranks) given[rank] = local_ranks.front();
    for (int rank = 0; rank < size; ++rank) {
      if (given[rank] < 0) given[rank] = rank;
    }
  } else if (static_cast<int>(given.size()) != size) {
    return absl::InvalidArgumentError(
        absl::StrCat("node_of_rank has ", given.size(), " entries for a job of ", size));
  }
  // Renumber nodes 0..n-1 in order of their lowest rank.
  Layout layout;
  absl::flat_hash_map<int, int> index_of;
  layout.node_of_rank.resize(size);
  for (int rank = 0; rank < size; ++rank) {
    auto [it, added] = index_of.try_emplace(given[rank], static_cast<int>(index_of.size()));
    if (added) layout.ranks_of_node.emplace_back();
    layout.node_of_rank[rank] = it->second;
    layout.ranks_of_node[it->second].push_back(rank);
  }
  layout.local_node = layout.node_of_rank[local_ranks.front()];
  if (layout.ranks_of_node[layout.local_node] != local_ranks) {
    return absl::InvalidArgumentError(absl::StrCat(
        "node_of_rank puts ranks ", absl::StrJoin(layout.ranks_of_node[layout.local_node], ","),
        " on the local node, but this server serves ", absl::StrJoin(local_ranks, ",")));
  }
  return layout;
}

std::string AnlMap(const Layout& layout) {
  // Runs of consecutive ranks on one node; then adjacent runs of equal
  // length on consecutive nodes merge into one (node, nnodes, ppn) block.
  struct Block {
    int node, nodes, ppn;
  };
  std::vector<Block> blocks;
  const int size = static_cast<int>(layout.node_of_rank.size());
  for (int rank = 0; rank < size;) {
    int end = rank;
    while (end < size && layout.node_of_rank[end] == layout.node_of_rank[rank]) ++end;
    const Block run{layout.node_of_rank[rank], 1, end - rank};
    if (!blocks.empty() && blocks.back().ppn == run.ppn &&
        blocks.back().node + blocks.back().nodes == run.node) {
      ++blocks.back().nodes;
    } else {
      blocks.push_back(run);
    }
    rank = end;
  }
  std::string out = "(vector";
  for (const Block& block : blocks)
    absl::StrAppend(&out, ",(", block.node, ",", block.nodes, ",", block.ppn, ")");
  return out + ")";
}

}  // namespace pmi_shim::downstream
