#include "protocol/pmix_v1/job_data.h"

#include <algorithm>
#include <cstdint>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "protocol/pmix_v1/buffer.h"
#include "protocol/pmix_v1/constants.h"

namespace pmi_shim::protocol::pmix_v1 {

absl::Status ValidateLayout(const JobLayout& layout) {
  if (layout.size < 1) return absl::InvalidArgumentError("job size must be at least 1");
  if (static_cast<int>(layout.node_of_rank.size()) != layout.size) {
    return absl::InvalidArgumentError(absl::StrCat("layout names ", layout.node_of_rank.size(),
                                                   " ranks for a job of ", layout.size));
  }
  for (int node : layout.node_of_rank) {
    if (node < 0 || node >= static_cast<int>(layout.node_names.size())) {
      return absl::InvalidArgumentError(absl::StrCat("node index ", node, " has no name"));
    }
  }
  for (const std::string& name : layout.node_names) {
    if (name.empty()) return absl::InvalidArgumentError("empty node name");
  }
  return absl::OkStatus();
}

std::vector<int> RanksOnNode(const JobLayout& layout, int node) {
  std::vector<int> ranks;
  for (int rank = 0; rank < static_cast<int>(layout.node_of_rank.size()); ++rank) {
    if (layout.node_of_rank[rank] == node) ranks.push_back(rank);
  }
  return ranks;
}

std::string RankList(const std::vector<int>& ranks) { return absl::StrJoin(ranks, ","); }

namespace {

// Job-level keys without the node map.
std::vector<dstore::Record> JobKeys(const JobLayout& layout, int local_node) {
  const std::vector<int> local = RanksOnNode(layout, local_node);
  const auto universe = static_cast<uint32_t>(std::max(layout.universe_size, layout.size));
  std::vector<dstore::Record> records = {
      {kKeyUniverseSize, Value::Uint32(universe)},
      {kKeyJobSize, Value::Uint32(static_cast<uint32_t>(layout.size))},
      {kKeyMaxProcs, Value::Uint32(universe)},
      {kKeyJobId, Value::String(layout.nspace)},
      {kKeyAppNum, Value::Uint32(static_cast<uint32_t>(layout.appnum))},
      {kKeyAppLeader, Value::Uint32(0)},
      {kKeyLocalSize, Value::Uint32(static_cast<uint32_t>(local.size()))},
      {kKeyNodeSize, Value::Uint32(static_cast<uint32_t>(local.size()))},
      {kKeyLocalPeers, Value::String(RankList(local))},
      {kKeyLocalLeader, Value::Uint32(local.empty() ? 0 : static_cast<uint32_t>(local.front()))},
      {kKeyNodeList, Value::String(absl::StrJoin(layout.node_names, ","))},
  };
  if (!layout.anl_map.empty()) records.emplace_back(kKeyAnlMap, Value::String(layout.anl_map));
  return records;
}

}  // namespace

std::vector<dstore::Record> JobRecords(const JobLayout& layout, int local_node) {
  std::vector<dstore::Record> records = JobKeys(layout, local_node);
  // The expanded PMIX_MAP_BLOB, as a ds12 server stores it: node name =
  // its ranks.
  for (int node = 0; node < static_cast<int>(layout.node_names.size()); ++node) {
    records.emplace_back(layout.node_names[node],
                         Value::String(RankList(RanksOnNode(layout, node))));
  }
  return records;
}

std::vector<dstore::Record> RankRecords(const JobLayout& layout, int rank) {
  const int node = layout.node_of_rank[rank];
  const std::vector<int> peers = RanksOnNode(layout, node);
  const auto local_rank =
      static_cast<uint16_t>(std::find(peers.begin(), peers.end(), rank) - peers.begin());
  return {
      {kKeyRank, Value::Int(rank)},
      {kKeyLocalRank, Value::Uint16(local_rank)},
      {kKeyNodeRank, Value::Uint16(local_rank)},
      {kKeyHostname, Value::String(layout.node_names[node])},
      {kKeyNodeId, Value::Uint32(static_cast<uint32_t>(node))},
      {kKeyAppNum, Value::Uint32(static_cast<uint32_t>(layout.appnum))},
      {kKeyGlobalRank, Value::Uint32(static_cast<uint32_t>(rank))},
      {kKeyAppRank, Value::Uint32(static_cast<uint32_t>(rank))},
  };
}

std::string PackedJobData(const JobLayout& layout, int local_node) {
  Packer out;
  for (const auto& [key, value] : JobKeys(layout, local_node)) out.PackKeyValue({key, value});
  Packer map;
  map.PackSize(layout.node_names.size());
  for (int node = 0; node < static_cast<int>(layout.node_names.size()); ++node) {
    map.PackKeyValue({layout.node_names[node], Value::String(RankList(RanksOnNode(layout, node)))});
  }
  out.PackKeyValue({kKeyMapBlob, Value::ByteObject(map.Take())});
  for (int rank = 0; rank < layout.size; ++rank) {
    Packer blob;
    blob.PackInt(rank);
    std::vector<dstore::Record> records = RankRecords(layout, rank);
    // The blob starts with the rank itself; PMIX_RANK is not repeated.
    for (size_t i = 1; i < records.size(); ++i) {
      blob.PackKeyValue({records[i].first, records[i].second});
    }
    out.PackKeyValue({kKeyProcBlob, Value::ByteObject(blob.Take())});
  }
  return out.Take();
}

}  // namespace pmi_shim::protocol::pmix_v1
