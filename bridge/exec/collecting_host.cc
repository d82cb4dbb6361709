#include "bridge/exec/collecting_host.h"

#include <cstdint>
#include <cstring>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/log.h"

namespace pmi_shim::exec {
namespace {

void AppendLength(std::string& out, size_t length) {
  const uint32_t value = static_cast<uint32_t>(length);
  out.append(reinterpret_cast<const char*>(&value), sizeof(value));
}

// Reads a length at `at` (advancing it); false when the bytes run out.
bool ReadLength(absl::string_view bytes, size_t& at, size_t& length) {
  uint32_t value = 0;
  if (bytes.size() - at < sizeof(value)) return false;
  std::memcpy(&value, bytes.data() + at, sizeof(value));
  at += sizeof(value);
  length = value;
  return length <= bytes.size() - at;
}

// PMI values have a small limit (1024): a larger collected blob is refused
// as corrupt rather than allocated.
constexpr size_t kMaxCollectedBytes = 64u << 20;

}  // namespace

std::string PackContribution(const KeyValues& entries) {
  std::string body;
  for (const auto& [key, value] : entries) {
    AppendLength(body, key.size());
    body += key;
    AppendLength(body, value.size());
    body += value;
  }
  std::string out;
  AppendLength(out, body.size());
  return out + body;
}

absl::StatusOr<KeyValues> UnpackContributions(absl::string_view blob) {
  if (blob.size() > kMaxCollectedBytes) {
    return absl::DataLossError(absl::StrCat("collected data of ", blob.size(), " bytes"));
  }
  KeyValues entries;
  size_t at = 0;
  while (at < blob.size()) {
    size_t body = 0;
    if (!ReadLength(blob, at, body)) return absl::DataLossError("truncated contribution");
    const size_t end = at + body;
    while (at < end) {
      size_t key_length = 0, value_length = 0;
      if (!ReadLength(blob.substr(0, end), at, key_length)) {
        return absl::DataLossError("truncated key");
      }
      std::string key(blob.substr(at, key_length));
      at += key_length;
      if (!ReadLength(blob.substr(0, end), at, value_length)) {
        return absl::DataLossError("truncated value");
      }
      entries.emplace_back(std::move(key), std::string(blob.substr(at, value_length)));
      at += value_length;
    }
  }
  return entries;
}

CollectingHost::CollectingHost(session::JobHost& inner, int rank)
    : ForwardingHost(inner), rank_(rank) {
  limits_.max_key_bytes = static_cast<size_t>(inner.info().limits.keylen_max) - 1;
  limits_.max_value_bytes = static_cast<size_t>(inner.info().limits.vallen_max) - 1;
}

std::string CollectingHost::BlobKey(int rank) const {
  return absl::StrCat("shim-kv-", epoch_, "-", rank);
}

void CollectingHost::Put(int rank, std::string key, std::string value, Done done) {
  epoch_puts_.emplace_back(key, value);
  ForwardingHost::Put(rank, std::move(key), std::move(value), std::move(done));
}

void CollectingHost::Barrier(int rank, Done done) {
  ++epoch_;
  collected_.clear();  // what this epoch reads must come from it
  collection_ = Collection::kDue;
  for (auto& [key, value] : epoch_puts_) collected_[key] = value;  // our own, at once
  absl::StatusOr<std::vector<downstream::modex::KeyValue>> pairs =
      downstream::modex::Encode(BlobKey(rank_), PackContribution(epoch_puts_), limits_);
  epoch_puts_.clear();
  if (!pairs.ok()) {
    // Peers then find no blob of ours and read our keys from the host.
    log::Warning(absl::StrCat("cannot bundle this rank's keys: ", pairs.status().message()));
    pairs = std::vector<downstream::modex::KeyValue>();
  }
  // The host answers in order: the barrier's reply comes after every put's.
  for (auto& pair : *pairs) {
    ForwardingHost::Put(rank, std::move(pair.key), std::move(pair.value), [](absl::Status put) {
      if (!put.ok()) log::Debug(absl::StrCat("bundle put failed: ", put.message()));
    });
  }
  ForwardingHost::Barrier(rank, std::move(done));
}

void CollectingHost::Get(int rank, std::string key, GetDone done) {
  // Keys the host itself provides (PMI_process_mapping...) are no peer's.
  const bool host_key = absl::StartsWith(key, "PMI_");
  if (collection_ == Collection::kDue && !host_key && !collected_.contains(key)) Collect();
  if (collection_ == Collection::kReading && !host_key) {
    waiters_.push_back({std::move(key), std::move(done)});
    return;
  }
  Answer(std::move(key), std::move(done));
}

void CollectingHost::Answer(std::string key, GetDone done) {
  if (auto found = collected_.find(key); found != collected_.end()) {
    ++collected_hits_;
    done(found->second);
    return;
  }
  ForwardingHost::Get(rank_, std::move(key), std::move(done));
}

void CollectingHost::Collect() {
  collection_ = Collection::kReading;
  const int size = info().size;
  auto outstanding = std::make_shared<int>(size - 1);
  if (*outstanding == 0) {
    CollectedOne(outstanding);
    return;
  }
  for (int peer = 0; peer < size; ++peer) {
    if (peer != rank_) ReadBlob(peer, outstanding);
  }
}

void CollectingHost::ReadBlob(int peer, std::shared_ptr<int> outstanding) {
  const std::string key = BlobKey(peer);
  ForwardingHost::Get(
      rank_, key,
      [this, alive = alive_, outstanding, key](absl::StatusOr<std::string> header_text) {
        if (!*alive) return;
        absl::StatusOr<downstream::modex::Header> header =
            header_text.ok() ? downstream::modex::ParseHeader(*header_text)
                             : absl::StatusOr<downstream::modex::Header>(header_text.status());
        if (!header.ok()) {  // a rank without a bridge, most likely: read its keys one by one
          CollectedOne(outstanding);
          return;
        }
        auto segments = std::make_shared<std::vector<std::string>>(header->segments);
        auto missing = std::make_shared<int>(header->segments);
        auto finish = [this, alive, outstanding, header = *header, segments]() {
          if (!*alive) return;
          absl::StatusOr<std::string> blob = downstream::modex::Reassemble(header, *segments);
          absl::StatusOr<KeyValues> entries =
              blob.ok() ? UnpackContributions(*blob) : absl::StatusOr<KeyValues>(blob.status());
          if (entries.ok()) {
            for (auto& [k, v] : *entries) collected_.emplace(std::move(k), std::move(v));
          } else {
            log::Warning(absl::StrCat("a peer's bundled keys are unreadable (",
                                      entries.status().message(), "); reading them from the host"));
          }
          CollectedOne(outstanding);
        };
        if (header->segments == 0) {
          finish();
          return;
        }
        for (int i = 1; i <= header->segments; ++i) {
          ForwardingHost::Get(
              rank_, downstream::modex::SegmentKey(key, i, header->segments),
              [alive, segments, missing, finish, i](absl::StatusOr<std::string> segment) {
                if (!*alive) return;
                if (segment.ok()) (*segments)[i - 1] = *std::move(segment);
                if (--*missing == 0) finish();  // a lost segment fails Reassemble
              });
        }
      });
}

void CollectingHost::CollectedOne(const std::shared_ptr<int>& outstanding) {
  if (*outstanding > 0 && --*outstanding > 0) return;
  collection_ = Collection::kDone;
  std::vector<Waiter> waiters = std::move(waiters_);
  waiters_.clear();
  for (Waiter& waiter : waiters) Answer(std::move(waiter.key), std::move(waiter.done));
}

}  // namespace pmi_shim::exec
