// Modex codec: carries an opaque binary blob (a PMIx fence contribution or
// direct-modex reply) through a PMI-1/PMI-2 key-value store, and
// ModexExchange, the fence/direct-modex protocol of PmixServers over a
// session::JobHost built on it. Pure logic: no libpmix, no I/O.
//
// A PMI KVS takes short printable values: at most vallen_max bytes, never a
// space (Hydra, MPICH and Slurm cut values there), never ';' (the PMI-2
// separator), and keys of at most keylen_max - 1 characters
// (reference/protocols.md §6 pitfalls 1-3). PMIx blobs are binary and often
// larger than 1 KiB, so they are stored the way MPICH stores oversized
// business cards (mpir_pmi.c): encoded, then split into segments.
//
//   KEY            = segments=N,bytes=L,fnv=HHHHHHHHHHHHHHHH[,data=D]
//   KEY-seg-1/N    = D1
//   ...
//   KEY-seg-N/N    = DN
//
// Di are consecutive pieces of the unpadded base64url encoding (RFC 4648 §5,
// alphabet A-Z a-z 0-9 '-' '_') of the blob: no space, ';', '=' or newline.
// `bytes` is the blob length and `fnv` its 64-bit FNV-1a hash in hex, so a
// lost, reordered or corrupted segment is an error rather than a silently
// wrong blob. A blob whose encoding fits in the header is stored inline as
// `data=` with N = 0 and costs one KVS entry; an empty blob is
// `segments=0,bytes=0,fnv=cbf29ce484222325`.
//
//   ASSIGN_OR_RETURN(std::vector<KeyValue> pairs, Encode("k", blob, limits));
//   // put pairs[0] (the header) and the segments; later, on any rank:
//   ASSIGN_OR_RETURN(Header header, ParseHeader(value_of_k));
//   // get SegmentKey("k", i, header.segments) for i = 1..N, then
//   ASSIGN_OR_RETURN(std::string blob, Reassemble(header, segments));
#ifndef PMI_SHIM_BRIDGE_DOWNSTREAM_MODEX_CODEC_H_
#define PMI_SHIM_BRIDGE_DOWNSTREAM_MODEX_CODEC_H_

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "bridge/session/job_host.h"

namespace pmi_shim::downstream::modex {

struct KeyValue {
  std::string key;
  std::string value;
};

struct CodecLimits {
  // Longest key and value the KVS takes, in bytes, without the NUL that
  // PMI's keylen_max/vallen_max count.
  size_t max_key_bytes = 63;
  size_t max_value_bytes = 1023;
};

// Parsed header value.
struct Header {
  int segments = 0;
  size_t bytes = 0;
  uint64_t fnv = 0;
  std::string inline_data;  // the encoded blob when segments == 0
};

// Headers larger than this are refused, so a corrupt header cannot make a
// reader allocate or fetch without bound.
inline constexpr size_t kMaxBlobBytes = 256u << 20;

// The pairs to store for `blob` under `key`: the header first, then the
// segments in order. InvalidArgument if `key` (or its longest segment key)
// is longer than limits.max_key_bytes, or if max_value_bytes leaves no room
// for a header and some data (it must be at least 64).
absl::StatusOr<std::vector<KeyValue>> Encode(absl::string_view key, absl::string_view blob,
                                             const CodecLimits& limits);

// "KEY-seg-I/N", I counted from 1 as MPICH does.
std::string SegmentKey(absl::string_view key, int index, int count);

// DataLoss for anything that is not a header this codec wrote.
absl::StatusOr<Header> ParseHeader(absl::string_view value);

// The blob from its header and its N segment values in order. DataLoss
// when a segment is missing, has a foreign character, or the decoded bytes
// do not match the header's length and hash.
absl::StatusOr<std::string> Reassemble(const Header& header,
                                       const std::vector<std::string>& segments);

// Building blocks, exposed for tests.
std::string Base64UrlEncode(absl::string_view bytes);
absl::StatusOr<std::string> Base64UrlDecode(absl::string_view text);
uint64_t Fnv1a64(absl::string_view bytes);

}  // namespace pmi_shim::downstream::modex

namespace pmi_shim::downstream {

// Moves PMIx modex data between PmixServers through a JobHost's KVS and
// barrier: the pure part of fence_nb and direct_modex, without libpmix.
//
// Fence epoch E (counted from 1; every server sees the job's fences in the
// same order) stores, under the host's KVS:
//   <prefix>-fE-<leader>  this server's blob (modex_codec header+segments),
//                         where leader is its lowest local rank;
//   <prefix>-fE-<r>       "ref=<leader>" for its other local ranks (unless
//                         every server knows the layout: Options::node_of_rank);
//   <prefix>-dE-<r>       rank r's direct-modex blob (non-collecting fences).
// then enters the host barrier once per local rank, then reads the blob of
// every other leader. The result is this server's blob followed by the
// others, which is what libpmix's modex cbfunc takes: "a blob which contains
// byte objects, one for each set of data" (pmix_server.c _mdxcbfunc), each
// server's contribution being self-delimiting.
//
// Keys never repeat (a fresh epoch per fence: some hosts refuse a second put
// of a key), start with neither "pmix" (PMIx-reserved) nor "PMI_" (Hydra's),
// and stay under keylen_max. Every rank of the job must run under such a
// server: a rank that published nothing fails the fence with NotFound
// rather than handing libpmix partial data.
//
// Everything runs on the loop's thread. Callbacks the host still holds when
// the exchange is destroyed become no-ops.
class ModexExchange {
 public:
  using BlobDone = std::function<void(absl::StatusOr<std::string>)>;

  struct Options {
    int size = 1;                  // job size
    std::vector<int> local_ranks;  // sorted, unique, non-empty
    // The server (node) of every rank, when every server of the job is
    // given the same: a fence then puts one blob per server and reads one
    // per other server, its leader's, instead of a key per rank (where the
    // other ranks hold "ref=<leader>"). Empty: a key per rank.
    std::vector<int> node_of_rank;
    modex::CodecLimits limits;
    std::string key_prefix = "shim-px";
  };

  struct FenceInput {
    // Share `blob` and return everyone's (PMIX_COLLECT_DATA).
    bool collect = true;
    std::string blob;
    // Direct-modex blobs of local ranks to publish for other servers.
    std::vector<std::pair<int, std::string>> direct;
  };

  ModexExchange(session::JobHost& host, Options options);
  ~ModexExchange();
  ModexExchange(const ModexExchange&) = delete;
  ModexExchange& operator=(const ModexExchange&) = delete;

  // Runs one job-wide fence; fences are queued and run one at a time.
  // `done` gets the collected data ("" when !collect) or the first error.
  void Fence(FenceInput input, BlobDone done);

  // The blob `rank` published at the latest fence that carried direct-modex
  // data. NotFound if there was none or `rank` published nothing.
  void DirectModex(int rank, BlobDone done);

  int completed_fences() const;

 private:
  struct State;
  struct FenceRun;
  static void StartNext(const std::shared_ptr<State>& state);
  std::shared_ptr<State> state_;
};

}  // namespace pmi_shim::downstream

#endif  // PMI_SHIM_BRIDGE_DOWNSTREAM_MODEX_CODEC_H_
