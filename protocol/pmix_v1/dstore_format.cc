#include "protocol/pmix_v1/dstore_format.h"

#include <cstring>

#include "absl/strings/str_cat.h"
#include "protocol/pmix_v1/constants.h"
#include "protocol/pmix_v1/header.h"

namespace pmi_shim::protocol::pmix_v1::dstore {
namespace {

void Put64(char* at, uint64_t value) {
  std::string bytes;
  AppendLittleEndian64(bytes, value);
  std::memcpy(at, bytes.data(), 8);
}

uint64_t Get64(const char* at) { return ReadLittleEndian64(at); }

// Slot 0 is the job; rank r is slot r + 1 (pmix_esh.c _get_rank_meta_info).
uint64_t SlotOf(int32_t rank) {
  return rank == kRankWildcard ? 0 : static_cast<uint64_t>(rank) + 1;
}

// Offsets inside one ns_seg_info_t.
constexpr size_t kNsTableIndexAt = 256;
constexpr size_t kNsTrackIndexAt = 264;
constexpr size_t kNsMetaSegmentsAt = 272;
constexpr size_t kNsDataSegmentsAt = 280;

}  // namespace

std::string SegmentFileName(SegmentKind kind, absl::string_view nspace, uint32_t id) {
  switch (kind) {
    case SegmentKind::kInitial:
      return absl::StrCat("initial-pmix_shared-segment-", id);
    case SegmentKind::kMeta:
      return absl::StrCat("smseg-", nspace, "-", id);
    case SegmentKind::kData:
      return absl::StrCat("smdataseg-", nspace, "-", id);
  }
  return "";
}

std::string EncodeRecord(absl::string_view key, absl::string_view bytes) {
  std::string out(key);
  out.push_back('\0');
  AppendLittleEndian64(out, bytes.size());
  out.append(bytes.data(), bytes.size());
  return out;
}

absl::StatusOr<DstoreImage> DstoreImage::Create(std::string nspace, Sizes sizes,
                                                SegmentFactory factory) {
  if (nspace.empty() || nspace.size() >= kNsNameBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("a dstore nspace has 1 to 255 bytes, not ", nspace.size()));
  }
  if (sizes.initial < 16 + kNsInfoBytes || sizes.meta < 8 + 2 * kMetaSlotBytes ||
      sizes.data < 256) {
    return absl::InvalidArgumentError("dstore segment sizes too small");
  }
  DstoreImage image(std::move(nspace), sizes, std::move(factory));
  absl::StatusOr<absl::Span<char>> initial =
      image.factory_(SegmentKind::kInitial, 0, sizes.initial);
  if (!initial.ok()) return initial.status();
  image.initial_ = *initial;
  absl::StatusOr<absl::Span<char>> meta = image.factory_(SegmentKind::kMeta, 0, sizes.meta);
  if (!meta.ok()) return meta.status();
  image.meta_ = *meta;
  if (absl::Status s = image.AddDataSegment(); !s.ok()) return s;
  // Register the nspace: one entry, one meta and one data segment so far.
  char* info = image.NsInfo();
  std::memcpy(info, image.nspace_.data(), image.nspace_.size());
  Put64(info + kNsTableIndexAt, 0);  // the client's session index, always 0
  std::memset(info + kNsTrackIndexAt, 0, 8);
  Put64(info + kNsMetaSegmentsAt, 1);
  Put64(info + kNsDataSegmentsAt, 1);
  Put64(image.initial_.data(), 1);      // entries
  Put64(image.initial_.data() + 8, 0);  // not full
  return image;
}

char* DstoreImage::NsInfo() const { return initial_.data() + 16; }

absl::Status DstoreImage::AddDataSegment() {
  const auto id = static_cast<uint32_t>(data_.size());
  absl::StatusOr<absl::Span<char>> segment = factory_(SegmentKind::kData, id, sizes_.data);
  if (!segment.ok()) return segment.status();
  Put64(segment->data(), 8);  // the free offset starts after itself
  data_.push_back(*segment);
  if (!initial_.empty()) Put64(NsInfo() + kNsDataSegmentsAt, data_.size());
  return absl::OkStatus();
}

absl::Status DstoreImage::StoreRank(int32_t rank, const std::vector<Record>& records) {
  const uint64_t slot = SlotOf(rank);
  if (rank < 0 && rank != kRankWildcard) {
    return absl::InvalidArgumentError(absl::StrCat("no dstore slot for rank ", rank));
  }
  if (8 + (slot + 1) * kMetaSlotBytes > sizes_.meta) {
    return absl::ResourceExhaustedError(
        absl::StrCat("rank ", rank, " lies beyond the dstore's meta segment"));
  }
  std::string block;
  for (const auto& [key, value] : records) {
    Packer packed;
    packed.PackValue(value);
    block += EncodeRecord(key, packed.bytes());
  }
  std::string end_offset;
  AppendLittleEndian64(end_offset, 0);
  block += EncodeRecord(kExtensionSlot, end_offset);
  if (block.size() + 8 > sizes_.data) {
    return absl::ResourceExhaustedError(absl::StrCat("rank ", rank, "'s data (", block.size(),
                                                     " bytes) exceeds a dstore data segment"));
  }
  uint64_t free_offset = Get64(data_.back().data());
  if (free_offset + block.size() > sizes_.data) {
    if (absl::Status s = AddDataSegment(); !s.ok()) return s;
    free_offset = 8;
  }
  absl::Span<char> segment = data_.back();
  std::memcpy(segment.data() + free_offset, block.data(), block.size());
  Put64(segment.data(), free_offset + block.size());
  const uint64_t global = (data_.size() - 1) * sizes_.data + free_offset;
  // The slot: rank as the server records it, offset, number of records.
  char* at = meta_.data() + 8 + slot * kMetaSlotBytes;
  Put64(at, static_cast<uint64_t>(static_cast<int64_t>(rank)));
  Put64(at + 16, records.size());
  Put64(at + 8, global);
  return absl::OkStatus();
}

absl::StatusOr<std::vector<std::pair<std::string, std::string>>> DstoreImage::ReadRank(
    int32_t rank) const {
  const uint64_t slot = SlotOf(rank);
  if (8 + (slot + 1) * kMetaSlotBytes > sizes_.meta) return absl::NotFoundError("no slot");
  const char* at = meta_.data() + 8 + slot * kMetaSlotBytes;
  uint64_t offset = Get64(at + 8);
  uint64_t count = Get64(at + 16);
  if (offset == 0) return absl::NotFoundError(absl::StrCat("no data for rank ", rank));
  std::vector<std::pair<std::string, std::string>> out;
  while (count > 0) {
    const uint64_t segment = offset / sizes_.data;
    const uint64_t within = offset % sizes_.data;
    if (segment >= data_.size()) return absl::DataLossError("offset beyond the data segments");
    absl::string_view rest(data_[segment].data() + within, sizes_.data - within);
    const size_t nul = rest.find('\0');
    if (nul == absl::string_view::npos || nul + 9 > rest.size()) {
      return absl::DataLossError("record overruns its segment");
    }
    std::string key(rest.substr(0, nul));
    const uint64_t size = Get64(rest.data() + nul + 1);
    if (nul + 9 + size > rest.size()) return absl::DataLossError("record overruns its segment");
    std::string bytes(rest.substr(nul + 9, size));
    if (key == kExtensionSlot) {
      offset = Get64(bytes.data());
      if (offset == 0) break;
      continue;
    }
    out.emplace_back(std::move(key), std::move(bytes));
    offset += nul + 9 + size;
    --count;
  }
  return out;
}

}  // namespace pmi_shim::protocol::pmix_v1::dstore
