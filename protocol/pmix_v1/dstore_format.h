// The shared-memory data store of PMIx v1.2 ("esh", gds module "ds12"),
// the way a v1.2.5 client reads it (src/dstore/pmix_esh.c).
//
// A v1.2 library built with its default --enable-dstore reads every job
// fact and every peer's modex data from files the server maps, never from
// messages: a GETNB reply only tells it to look again. So a server for such
// clients must write these files. They live in one directory, named to the
// client by PMIX_DSTORE_ESH_BASE_PATH:
//
//   dstore_sm.lock                     one page; a process-shared
//                                      pthread_rwlock_t at offset 0 (clients
//                                      take it for reading around each lookup)
//   initial-pmix_shared-segment-0      u64 count, u64 full, then per nspace
//                                      {char name[256]; u64 tbl_idx;
//                                       i32 track_idx; pad; u64 meta_segs;
//                                       u64 data_segs}  (288 bytes)
//   smseg-NSPACE-0                     meta: u64 count, then per slot
//                                      {u64 rank; u64 offset; u64 count};
//                                      slot 0 is the job (rank WILDCARD),
//                                      slot r+1 rank r; offset 0 = no data
//   smdataseg-NSPACE-I                 data: u64 first free offset within the
//                                      segment, then records
//                                      {key NUL; u64 size; size bytes}, the
//                                      bytes being one pack(VALUE)
//
// A slot's offset is global across the data segments (segment I starts at
// I * data segment size); its `count` records are read in order, and a
// record named EXTENSION_SLOT holds the offset where the rank's records go
// on (0: they end). All integers are in the machine's order (little-endian
// here); the sizes are the client's defaults unless its environment says
// otherwise (INITIAL_SEG_SIZE, NS_META_SEG_SIZE, NS_DATA_SEG_SIZE), so the
// server hands it explicit values.
//
// DstoreImage lays the segments out in memory it is given (the endpoint
// backs it with mmap'd files, tests with plain buffers) and rewrites a
// rank's records as one block each time they change: the old block stays
// behind unreferenced, and the caller holds the lock around each store.
// Pure: no files, no locks.
#ifndef PMI_SHIM_PROTOCOL_PMIX_V1_DSTORE_FORMAT_H_
#define PMI_SHIM_PROTOCOL_PMIX_V1_DSTORE_FORMAT_H_

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "protocol/pmix_v1/buffer.h"

namespace pmi_shim::protocol::pmix_v1::dstore {

inline constexpr char kBasePathVariable[] = "PMIX_DSTORE_ESH_BASE_PATH";
inline constexpr char kInitialSizeVariable[] = "INITIAL_SEG_SIZE";
inline constexpr char kMetaSizeVariable[] = "NS_META_SEG_SIZE";
inline constexpr char kDataSizeVariable[] = "NS_DATA_SEG_SIZE";
inline constexpr char kLinearSearchVariable[] = "SM_USE_LINEAR_SEARCH";
inline constexpr char kLockFileName[] = "dstore_sm.lock";
inline constexpr char kExtensionSlot[] = "EXTENSION_SLOT";

inline constexpr size_t kNsInfoBytes = 288;
inline constexpr size_t kNsNameBytes = 256;
inline constexpr size_t kMetaSlotBytes = 24;

enum class SegmentKind { kInitial, kMeta, kData };

struct Sizes {
  size_t initial = 4096;
  size_t meta = 1 << 22;
  size_t data = 1 << 22;
};

// The file name of a segment (inside the store's directory).
std::string SegmentFileName(SegmentKind kind, absl::string_view nspace, uint32_t id);

// {key NUL, u64 size, bytes}.
std::string EncodeRecord(absl::string_view key, absl::string_view bytes);

// One record to store: a key and its value.
using Record = std::pair<std::string, Value>;

class DstoreImage {
 public:
  // Hands out zero-filled memory of `size` bytes for segment (kind, id);
  // called once per segment.
  using SegmentFactory =
      std::function<absl::StatusOr<absl::Span<char>>(SegmentKind kind, uint32_t id, size_t size)>;

  // Creates the initial, meta and first data segment and registers
  // `nspace` in the initial segment. InvalidArgument for an nspace that
  // does not fit or sizes too small to hold anything.
  static absl::StatusOr<DstoreImage> Create(std::string nspace, Sizes sizes,
                                            SegmentFactory factory);

  // Replaces everything stored for `rank` (kRankWildcard: the job) by
  // `records`. ResourceExhausted when the block is larger than a data
  // segment, or the rank's slot lies beyond the one meta segment (more
  // than ~174,000 ranks with the default size).
  absl::Status StoreRank(int32_t rank, const std::vector<Record>& records);

  // Reads the records of `rank` back the way a client walks them (for
  // tests and traces): key and the packed value bytes.
  absl::StatusOr<std::vector<std::pair<std::string, std::string>>> ReadRank(int32_t rank) const;

  const std::string& nspace() const { return nspace_; }
  int data_segments() const { return static_cast<int>(data_.size()); }

 private:
  DstoreImage(std::string nspace, Sizes sizes, SegmentFactory factory)
      : nspace_(std::move(nspace)), sizes_(sizes), factory_(std::move(factory)) {}
  absl::Status AddDataSegment();
  char* NsInfo() const;

  std::string nspace_;
  Sizes sizes_;
  SegmentFactory factory_;
  absl::Span<char> initial_;
  absl::Span<char> meta_;
  std::vector<absl::Span<char>> data_;
};

}  // namespace pmi_shim::protocol::pmix_v1::dstore

#endif  // PMI_SHIM_PROTOCOL_PMIX_V1_DSTORE_FORMAT_H_
