#include "bridge/upstream/embedded_host.h"

#include <utility>

#include "absl/strings/str_cat.h"

namespace pmi_shim::upstream {

EmbeddedHost::EmbeddedHost(session::JobInfo info, Events events)
    : info_(std::move(info)),
      events_(std::move(events)),
      claimed_(info_.size, false),
      finalized_(info_.size, false),
      in_barrier_(info_.size, false) {}

absl::Status EmbeddedHost::ClaimRank(int rank) {
  if (rank < 0 || rank >= info_.size) {
    return absl::OutOfRangeError(
        absl::StrCat("rank ", rank, " is outside the job (size ", info_.size, ")"));
  }
  if (claimed_[rank]) {
    return absl::FailedPreconditionError(absl::StrCat(
        "rank ", rank, " is already connected; two processes claim the same PMI_ID/PMI_RANK"));
  }
  claimed_[rank] = true;
  return absl::OkStatus();
}

void EmbeddedHost::ReleaseRank(int rank) {
  if (rank >= 0 && rank < info_.size) claimed_[rank] = false;
}

void EmbeddedHost::Put(int rank, std::string key, std::string value, Done done) {
  kvs_[std::move(key)] = std::move(value);  // a later put of a key wins, as in Hydra and Flux
  done(absl::OkStatus());
}

void EmbeddedHost::Get(int rank, std::string key, GetDone done) {
  if (key == "PMI_process_mapping" && info_.process_mapping.has_value()) {
    done(*info_.process_mapping);
    return;
  }
  auto it = kvs_.find(key);
  if (it == kvs_.end()) {
    done(absl::NotFoundError(absl::StrCat("key ", key, " not found")));
    return;
  }
  done(it->second);
}

void EmbeddedHost::Barrier(int rank, Done done) {
  if (in_barrier_[rank]) {
    done(absl::FailedPreconditionError(absl::StrCat("rank ", rank, " entered the barrier twice")));
    return;
  }
  in_barrier_[rank] = true;
  barrier_waiters_.push_back(std::move(done));
  if (static_cast<int>(barrier_waiters_.size()) < info_.size) return;
  // Everyone is in: reset first, since a completion may re-enter Barrier.
  std::vector<Done> waiters = std::move(barrier_waiters_);
  barrier_waiters_.clear();
  in_barrier_.assign(info_.size, false);
  ++barrier_epoch_;
  for (Done& waiter : waiters) waiter(absl::OkStatus());
}

void EmbeddedHost::PutNodeAttr(int rank, std::string key, std::string value, Done done) {
  node_attrs_[key] = value;
  auto waiters = node_attr_waiters_.extract(key);
  if (!waiters.empty()) {
    for (GetDone& waiter : waiters.mapped()) waiter(value);
  }
  done(absl::OkStatus());
}

void EmbeddedHost::GetNodeAttr(int rank, std::string key, bool wait, GetDone done) {
  auto it = node_attrs_.find(key);
  if (it != node_attrs_.end()) {
    done(it->second);
  } else if (wait) {
    node_attr_waiters_[std::move(key)].push_back(std::move(done));
  } else {
    done(absl::NotFoundError(absl::StrCat("node attribute ", key, " not found")));
  }
}

void EmbeddedHost::Abort(int rank, int exit_code, std::string message) {
  if (events_.abort) events_.abort(rank, exit_code, message);
}

void EmbeddedHost::Finalized(int rank) { finalized_[rank] = true; }

void EmbeddedHost::Lost(int rank, std::string reason) {
  if (events_.lost) events_.lost(rank, reason);
}

}  // namespace pmi_shim::upstream
