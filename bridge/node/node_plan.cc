#include "bridge/node/node_plan.h"

#include <cstdint>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "bridge/upstream/process_mapping.h"
#include "common/status_macros.h"

namespace pmi_shim::node {

int NodePlan::LeaderOf(int node_index) const {
  for (int r = 0; r < size; ++r) {
    if (node_of_rank[r] == node_index) return r;
  }
  return -1;
}

absl::StatusOr<NodePlan> PlanFromNodeIds(const std::vector<int>& node_ids, int rank) {
  const int size = static_cast<int>(node_ids.size());
  if (rank < 0 || rank >= size) {
    return absl::InvalidArgumentError(
        absl::StrCat("rank ", rank, " is outside a job of ", size, " ranks"));
  }
  NodePlan plan;
  plan.size = size;
  plan.rank = rank;
  absl::flat_hash_map<int, int> index_of;
  for (int id : node_ids) {
    if (id < 0) return absl::InvalidArgumentError(absl::StrCat("negative node id ", id));
    auto [it, added] = index_of.try_emplace(id, static_cast<int>(index_of.size()));
    plan.node_of_rank.push_back(it->second);
  }
  plan.node_count = static_cast<int>(index_of.size());
  plan.node = plan.node_of_rank[rank];
  for (int r = 0; r < size; ++r) {
    if (plan.node_of_rank[r] == plan.node) plan.local_ranks.push_back(r);
  }
  return plan;
}

absl::StatusOr<NodePlan> PlanFromMapping(absl::string_view mapping, int size, int rank) {
  ASSIGN_OR_RETURN(std::vector<int> ids, upstream::NodeOfRank(mapping, size));
  return PlanFromNodeIds(ids, rank);
}

absl::StatusOr<NodePlan> PlanFromHostnames(const std::vector<std::string>& hostname_of_rank,
                                           int rank) {
  absl::flat_hash_map<std::string, int> id_of;
  std::vector<int> ids;
  for (const std::string& name : hostname_of_rank) {
    if (name.empty()) return absl::InvalidArgumentError("a rank published an empty hostname");
    ids.push_back(id_of.try_emplace(name, static_cast<int>(id_of.size())).first->second);
  }
  return PlanFromNodeIds(ids, rank);
}

std::string HostnameKey(int rank) { return absl::StrCat("shim-host-", rank); }

std::string NodeDirectoryName(absl::string_view job, int node_index) {
  std::string safe;
  for (char c : job.substr(0, 32)) {
    const bool plain = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                       c == '_' || c == '-';
    safe += plain ? c : '_';
  }
  uint32_t hash = 2166136261u;  // FNV-1a, 32 bits
  for (char c : job) {
    hash ^= static_cast<uint8_t>(c);
    hash *= 16777619u;
  }
  return absl::StrFormat("%s-%08x.node%d", safe.empty() ? "job" : safe, hash, node_index);
}

}  // namespace pmi_shim::node
