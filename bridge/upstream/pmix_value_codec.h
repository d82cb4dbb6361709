// PMI <-> PMIx translation of names and values, for the PMIx client upstream.
//
// The pure half of bridge/upstream/pmix_client_host.h: everything here is a
// function of its arguments, so it is unit-tested without a PMIx server.
//
// Keys. PMIx reserves every key that starts with "pmix" (pitfall 21 in
// reference/protocols.md §6), and the bridge needs a few keys of its own. A
// PMI key is therefore stored under a PMIx key chosen so that no two PMI keys
// (job or node scope) and no internal key ever share a PMIx key:
//
//   PMI job key   "bc-0"        -> "bc-0"                 (the common case)
//   PMI job key   "pmix_x"      -> "pmishim.kvs.pmix_x"   (would be reserved)
//   PMI job key   "pmishim_y"   -> "pmishim.kvs.pmishim_y" (would collide)
//   PMI node key  "shm"         -> "pmishim.node.shm"     (PMI-2 node attribute)
//   internal                       "pmishim.dir.<epoch>"  (KeyDirectoryKey)
//
//   std::string pmix_key = ToPmixKey(KeyScope::kJob, "pmix_x");
//   std::optional<ScopedKey> back = FromPmixKey(pmix_key);  // {kJob, "pmix_x"}
//
// Key directory. A PMIx get must name the rank that put a key: with the
// default shared-memory data store of PMIx 4.2.2 a get with
// PMIX_RANK_UNDEF finds nothing another process put, even after a fence
// that collected the data. So at every barrier each rank also puts the list
// of keys it put since the previous one (EncodeKeyDirectory), and after the
// fence each bridge reads every rank's list to learn who owns which key.
//
// Process mapping. PRRTE and Open MPI give no PMIX_ANL_MAP; the layout comes
// from per-node peer lists or per-rank node ids, which ProcessMappingFromNodes
// turns into a plain RFC 13 value.
#ifndef PMI_SHIM_BRIDGE_UPSTREAM_PMIX_VALUE_CODEC_H_
#define PMI_SHIM_BRIDGE_UPSTREAM_PMIX_VALUE_CODEC_H_

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace pmi_shim::upstream {

// Which PMI name space a key belongs to: the job KVS (PMI-1 put/get, PMI-2
// kvs-put/kvs-get) or the node attributes (PMI-2 info-putnodeattr).
enum class KeyScope { kJob, kNode };

struct ScopedKey {
  KeyScope scope = KeyScope::kJob;
  std::string key;

  bool operator==(const ScopedKey& other) const { return scope == other.scope && key == other.key; }
};

// The PMIx key under which the PMI key `key` of `scope` is stored.
std::string ToPmixKey(KeyScope scope, absl::string_view key);

// The inverse of ToPmixKey: nullopt for PMIx keys that no PMI key maps to
// (PMIx's own "pmix*" keys and the bridge's internal ones).
std::optional<ScopedKey> FromPmixKey(absl::string_view pmix_key);

// The internal key under which a rank lists its keys of barrier `epoch`.
std::string KeyDirectoryKey(int epoch);

// A key directory as stored in a PMIx byte object. Keys may hold any byte
// except NUL (PMI clients pass them as C strings).
std::string EncodeKeyDirectory(const std::vector<std::string>& keys);
// InvalidArgument if `bytes` is not something EncodeKeyDirectory wrote.
absl::StatusOr<std::vector<std::string>> DecodeKeyDirectory(absl::string_view bytes);

// Parses a PMIx rank list such as PMIX_LOCAL_PEERS ("0,1,2,3").
absl::StatusOr<std::vector<int>> ParseRankList(absl::string_view text);

// The node of every rank, from the ranks on each node (PMIx_Resolve_peers
// per host of PMIx_Resolve_nodes): node i holds ranks_per_node[i].
// InvalidArgument if a rank is out of [0, size), listed twice or missing.
absl::StatusOr<std::vector<int>> NodesFromPeerLists(
    int size, const std::vector<std::vector<int>>& ranks_per_node);

// PMI_process_mapping for a job whose rank r runs on node node_of_rank[r],
// in plain 3-tuples and at most `max_length` bytes. Node ids only need to
// tell nodes apart, so they are renumbered in order of first appearance.
// When the whole layout is too long but repeats (cyclic placement), one
// period is written, as Slurm does ("(vector,(0,2,1))" for 4 ranks on 2
// nodes round-robin): every MPICH-derived reader repeats a short map.
// OutOfRange when even that is too long; Hydra and Flux then leave the key
// out, and MPICH exchanges host names instead.
absl::StatusOr<std::string> ProcessMappingFromNodes(const std::vector<int>& node_of_rank,
                                                    size_t max_length);

}  // namespace pmi_shim::upstream

#endif  // PMI_SHIM_BRIDGE_UPSTREAM_PMIX_VALUE_CODEC_H_
