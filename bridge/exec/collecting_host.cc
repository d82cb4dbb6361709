#include "bridge/exec/collecting_host.h"

#include <cstdint>
#include <cstring>

#include "absl/status/status.h"
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

CollectingHost::CollectingHost(session::JobHost& inner, int rank) : ForwardingHost(inner) {
  downstream::ModexExchange::Options options;
  options.size = inner.info().size;
  options.local_ranks = {rank};
  options.limits.max_key_bytes = static_cast<size_t>(inner.info().limits.keylen_max) - 1;
  options.limits.max_value_bytes = static_cast<size_t>(inner.info().limits.vallen_max) - 1;
  options.key_prefix = "shim-kv";
  exchange_ = std::make_unique<downstream::ModexExchange>(inner, options);
}

void CollectingHost::Put(int rank, std::string key, std::string value, Done done) {
  epoch_puts_.emplace_back(key, value);
  ForwardingHost::Put(rank, std::move(key), std::move(value), std::move(done));
}

void CollectingHost::Get(int rank, std::string key, GetDone done) {
  if (auto found = collected_.find(key); found != collected_.end()) {
    ++collected_hits_;
    done(found->second);
    return;
  }
  ForwardingHost::Get(rank, std::move(key), std::move(done));
}

void CollectingHost::Barrier(int rank, Done done) {
  collected_.clear();  // what the next epoch reads must come from it
  downstream::ModexExchange::FenceInput input;
  input.blob = PackContribution(epoch_puts_);
  epoch_puts_.clear();
  exchange_->Fence(std::move(input), [this, done = std::move(done)](
                                         absl::StatusOr<std::string> everyone) {
    if (absl::IsNotFound(everyone.status())) {
      // Some rank is not behind a bridge (the barrier itself passed): its
      // keys, and so every miss, are read from the host as before.
      log::Debug(absl::StrCat("fence collected nothing: ", everyone.status().message()));
      done(absl::OkStatus());
      return;
    }
    if (!everyone.ok()) {
      done(everyone.status());
      return;
    }
    absl::StatusOr<KeyValues> entries = UnpackContributions(*everyone);
    if (!entries.ok()) {
      log::Warning(absl::StrCat("fence data unreadable (", entries.status().message(),
                                "); reading keys from the host instead"));
    } else {
      for (auto& [key, value] : *entries) collected_[std::move(key)] = std::move(value);
    }
    done(absl::OkStatus());
  });
}

}  // namespace pmi_shim::exec
