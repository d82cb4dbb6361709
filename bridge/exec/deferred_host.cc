#include "bridge/exec/deferred_host.h"

#include <utility>

#include "absl/strings/str_cat.h"

namespace pmi_shim::exec {

absl::Status DeferredHost::Ensure() {
  if (outcome_.has_value()) return *outcome_;
  absl::StatusOr<session::JobHost*> host = connect_();
  if (host.ok() && *host == nullptr) host = absl::InternalError("the host connector returned none");
  if (host.ok()) {
    inner_ = *host;
    outcome_ = absl::OkStatus();
  } else {
    outcome_ = host.status();
  }
  return *outcome_;
}

absl::Status DeferredHost::NotConnected() const {
  if (outcome_.has_value() && !outcome_->ok()) return *outcome_;
  return absl::FailedPreconditionError("the job's host is not connected yet");
}

const session::JobInfo& DeferredHost::info() const {
  return inner_ != nullptr ? inner_->info() : placeholder_;
}

absl::Status DeferredHost::ClaimRank(int rank) {
  if (inner_ == nullptr) return NotConnected();
  return inner_->ClaimRank(rank);
}

void DeferredHost::ReleaseRank(int rank) {
  if (inner_ != nullptr) inner_->ReleaseRank(rank);
}

void DeferredHost::Put(int rank, std::string key, std::string value, Done done) {
  if (inner_ == nullptr) return done(NotConnected());
  inner_->Put(rank, std::move(key), std::move(value), std::move(done));
}

void DeferredHost::Get(int rank, std::string key, GetDone done) {
  if (inner_ == nullptr) return done(NotConnected());
  inner_->Get(rank, std::move(key), std::move(done));
}

void DeferredHost::Barrier(int rank, Done done) {
  if (inner_ == nullptr) return done(NotConnected());
  inner_->Barrier(rank, std::move(done));
}

void DeferredHost::PutNodeAttr(int rank, std::string key, std::string value, Done done) {
  if (inner_ == nullptr) return done(NotConnected());
  inner_->PutNodeAttr(rank, std::move(key), std::move(value), std::move(done));
}

void DeferredHost::GetNodeAttr(int rank, std::string key, bool wait, GetDone done) {
  if (inner_ == nullptr) return done(NotConnected());
  inner_->GetNodeAttr(rank, std::move(key), wait, std::move(done));
}

void DeferredHost::Abort(int rank, int exit_code, std::string message) {
  if (inner_ != nullptr) inner_->Abort(rank, exit_code, std::move(message));
}

void DeferredHost::Finalized(int rank) {
  if (inner_ != nullptr) inner_->Finalized(rank);
}

void DeferredHost::Lost(int rank, std::string reason) {
  if (inner_ != nullptr) inner_->Lost(rank, std::move(reason));
}

bool DeferredHost::Idle() const { return inner_ == nullptr || inner_->Idle(); }

}  // namespace pmi_shim::exec
