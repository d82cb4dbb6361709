#include "bridge/upstream/pmix_value_codec.h"

#include <algorithm>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/types/span.h"
#include "bridge/upstream/process_mapping.h"

namespace pmi_shim::upstream {
namespace {

// Every key the bridge itself writes starts with this, so escaping all PMI
// keys that do too keeps the two sets apart.
constexpr absl::string_view kOwnPrefix = "pmishim";
constexpr absl::string_view kEscapedJobPrefix = "pmishim.kvs.";
constexpr absl::string_view kNodePrefix = "pmishim.node.";
constexpr absl::string_view kDirectoryHeader = "pmishim.dir.v1";

// PMIx checks the prefix with strncmp (bfrop_base_tma.h), so case matters.
bool NeedsEscape(absl::string_view key) {
  return absl::StartsWith(key, "pmix") || absl::StartsWith(key, kOwnPrefix);
}

// The shortest prefix length p dividing the size whose repetition is the
// whole layout (the size itself when nothing repeats). A repetition must
// start a new block, or a run of ranks on one node would be cut in two:
// "(0,1,4)" must not become "(0,1,1)" repeated.
size_t Period(const std::vector<int>& nodes) {
  const size_t n = nodes.size();
  for (size_t p = 1; p < n; ++p) {
    if (n % p != 0 || nodes[p - 1] == nodes[p]) continue;
    bool repeats = true;
    for (size_t i = p; i < n && repeats; ++i) repeats = nodes[i] == nodes[i - p];
    if (repeats) return p;
  }
  return n;
}

}  // namespace

std::string ToPmixKey(KeyScope scope, absl::string_view key) {
  if (scope == KeyScope::kNode) return absl::StrCat(kNodePrefix, key);
  if (NeedsEscape(key)) return absl::StrCat(kEscapedJobPrefix, key);
  return std::string(key);
}

std::optional<ScopedKey> FromPmixKey(absl::string_view pmix_key) {
  absl::string_view rest = pmix_key;
  if (absl::ConsumePrefix(&rest, kNodePrefix)) {
    return ScopedKey{KeyScope::kNode, std::string(rest)};
  }
  if (absl::ConsumePrefix(&rest, kEscapedJobPrefix)) {
    // Only keys that ToPmixKey escapes come back: anything else under this
    // prefix was not written by it.
    if (!NeedsEscape(rest)) return std::nullopt;
    return ScopedKey{KeyScope::kJob, std::string(rest)};
  }
  if (NeedsEscape(pmix_key)) return std::nullopt;  // PMIx's own or internal
  return ScopedKey{KeyScope::kJob, std::string(pmix_key)};
}

std::string KeyDirectoryKey(int epoch) { return absl::StrCat("pmishim.dir.", epoch); }

std::string EncodeKeyDirectory(const std::vector<std::string>& keys) {
  std::string bytes(kDirectoryHeader);
  for (const std::string& key : keys) {
    bytes.push_back('\0');
    bytes += key;
  }
  return bytes;
}

absl::StatusOr<std::vector<std::string>> DecodeKeyDirectory(absl::string_view bytes) {
  std::vector<std::string> parts = absl::StrSplit(bytes, absl::ByChar('\0'));
  if (parts.front() != kDirectoryHeader) {
    return absl::InvalidArgumentError(absl::StrCat("not a pmi-shim key directory (starts with \"",
                                                   parts.front().substr(0, 32), "\")"));
  }
  parts.erase(parts.begin());
  return parts;
}

absl::StatusOr<std::vector<int>> ParseRankList(absl::string_view text) {
  std::vector<int> ranks;
  for (absl::string_view item : absl::StrSplit(text, ',')) {
    int rank = 0;
    if (!absl::SimpleAtoi(item, &rank) || rank < 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("bad rank \"", item, "\" in rank list \"", text, "\""));
    }
    ranks.push_back(rank);
  }
  return ranks;
}

absl::StatusOr<std::vector<int>> NodesFromPeerLists(
    int size, const std::vector<std::vector<int>>& ranks_per_node) {
  std::vector<int> nodes(size, -1);
  for (size_t node = 0; node < ranks_per_node.size(); ++node) {
    for (int rank : ranks_per_node[node]) {
      if (rank < 0 || rank >= size) {
        return absl::InvalidArgumentError(absl::StrCat("node ", node, " lists rank ", rank,
                                                       " outside the job (size ", size, ")"));
      }
      if (nodes[rank] != -1) {
        return absl::InvalidArgumentError(
            absl::StrCat("rank ", rank, " is listed on node ", nodes[rank], " and on node ", node));
      }
      nodes[rank] = static_cast<int>(node);
    }
  }
  auto missing = std::find(nodes.begin(), nodes.end(), -1);
  if (missing != nodes.end()) {
    return absl::InvalidArgumentError(
        absl::StrCat("rank ", missing - nodes.begin(), " is on no node"));
  }
  return nodes;
}

absl::StatusOr<std::string> ProcessMappingFromNodes(const std::vector<int>& node_of_rank,
                                                    size_t max_length) {
  absl::flat_hash_map<int, int> renumbered;
  std::vector<int> nodes;
  nodes.reserve(node_of_rank.size());
  for (int node : node_of_rank) {
    auto [it, inserted] = renumbered.try_emplace(node, static_cast<int>(renumbered.size()));
    nodes.push_back(it->second);
  }
  std::string mapping = FormatProcessMapping(PlainBlocks(nodes));
  if (mapping.size() > max_length) {
    mapping = FormatProcessMapping(PlainBlocks(absl::MakeConstSpan(nodes.data(), Period(nodes))));
  }
  if (mapping.size() > max_length) {
    return absl::OutOfRangeError(absl::StrCat("PMI_process_mapping needs ", mapping.size(),
                                              " bytes, more than ", max_length));
  }
  return mapping;
}

}  // namespace pmi_shim::upstream
