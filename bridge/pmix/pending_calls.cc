#include "bridge/pmix/pending_calls.h"

#include <pmix.h>

#include <mutex>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "bridge/pmix/status.h"
#include "bridge/pmix/value.h"

namespace pmi_shim::pmix {

// What a Call and its PendingCalls share: the calls libpmix holds, and the
// way back to the loop (closed when the PendingCalls goes).
struct PendingCalls::Shared {
  std::mutex mutex;
  absl::flat_hash_map<Call*, std::unique_ptr<Call>> live;  // guarded by mutex
  LoopHandoff<PendingCalls>::Handle handle;                // set once, before any call
};

PendingCalls::PendingCalls(EventLoop& loop)
    : shared_(std::make_shared<Shared>()), handoff_(loop, *this) {
  shared_->handle = handoff_.handle();
}

PendingCalls::~PendingCalls() { handoff_.Close(); }

PendingCalls::Call* PendingCalls::Start(std::string what, Reply reply) {
  std::unique_ptr<Call> call(new Call);
  PMIX_PROC_CONSTRUCT(&call->proc);
  call->what_ = std::move(what);
  call->id_ = next_id_++;
  call->shared_ = shared_;
  replies_.emplace(call->id_, std::move(reply));
  Call* raw = call.get();
  std::lock_guard<std::mutex> lock(shared_->mutex);
  shared_->live.emplace(raw, std::move(call));
  return raw;
}

void PendingCalls::Refused(Call* call, pmix_status_t rc) {
  std::unique_ptr<Call> owned;
  {
    std::lock_guard<std::mutex> lock(shared_->mutex);
    auto node = shared_->live.extract(call);
    if (node.empty()) return;
    owned = std::move(node.mapped());
  }
  Complete(owned->id_, FromPmix(rc, owned->what_));
}

void PendingCalls::FailAll(const absl::Status& status) {
  auto replies = std::move(replies_);
  replies_.clear();
  for (auto& [id, reply] : replies) reply(status);
}

void PendingCalls::ForgetUnanswered() {
  absl::flat_hash_map<Call*, std::unique_ptr<Call>> unanswered;
  {
    std::lock_guard<std::mutex> lock(shared_->mutex);
    unanswered.swap(shared_->live);
  }
  // Destroyed outside the lock: each Call holds a reference to shared_.
}

void PendingCalls::Complete(uint64_t id, absl::StatusOr<std::string> result) {
  auto node = replies_.extract(id);
  if (node.empty()) return;  // failed already
  node.mapped()(std::move(result));
}

void PendingCalls::Finish(void* cbdata, absl::StatusOr<std::string> result) {
  auto* raw = static_cast<Call*>(cbdata);
  std::shared_ptr<Shared> shared = raw->shared_;
  std::unique_ptr<Call> call;
  {
    std::lock_guard<std::mutex> lock(shared->mutex);
    auto node = shared->live.extract(raw);
    if (node.empty()) return;
    call = std::move(node.mapped());
  }
  shared->handle.Post([id = call->id_, result = std::move(result)](PendingCalls& calls) mutable {
    calls.Complete(id, std::move(result));
  });
}

void PendingCalls::OnOpDone(pmix_status_t status, void* cbdata) {
  absl::Status result = FromPmix(status, static_cast<Call*>(cbdata)->what_);
  Finish(cbdata, result.ok() ? absl::StatusOr<std::string>(std::string()) : result);
}

void PendingCalls::OnValue(pmix_status_t status, pmix_value_t* value, void* cbdata) {
  const std::string& what = static_cast<Call*>(cbdata)->what_;
  absl::StatusOr<std::string> result = absl::NotFoundError(absl::StrCat(what, ": no value"));
  if (status != PMIX_SUCCESS) {
    result = FromPmix(status, what);
  } else if (value != nullptr) {
    result = ValueToString(*value);
  }
  // The value is ours: libpmix 4.2.2 never frees what it hands to a
  // PMIx_Get_nb callback (LeakSanitizer shows one value lost per get).
  if (value != nullptr) PMIX_VALUE_RELEASE(value);
  Finish(cbdata, std::move(result));
}

void PendingCalls::OnModexData(pmix_status_t status, char* data, size_t size, void* cbdata) {
  // libpmix frees `data` when this returns.
  absl::StatusOr<std::string> result =
      status == PMIX_SUCCESS
          ? absl::StatusOr<std::string>(data != nullptr ? std::string(data, size) : std::string())
          : FromPmix(status, static_cast<Call*>(cbdata)->what_);
  Finish(cbdata, std::move(result));
}

namespace {

struct OpWait {
  absl::Mutex mutex;
  bool done ABSL_GUARDED_BY(mutex) = false;
  pmix_status_t status ABSL_GUARDED_BY(mutex) = PMIX_SUCCESS;
};

void OpWaitDone(pmix_status_t status, void* cbdata) {
  auto* wait = static_cast<std::shared_ptr<OpWait>*>(cbdata);
  {
    absl::MutexLock lock(&(*wait)->mutex);
    (*wait)->status = status;
    (*wait)->done = true;
  }
  delete wait;
}

}  // namespace

pmix_status_t CallAndWait(const std::function<pmix_status_t(pmix_op_cbfunc_t, void*)>& call,
                          absl::Duration timeout) {
  auto wait = std::make_shared<OpWait>();
  auto* handle = new std::shared_ptr<OpWait>(wait);
  const pmix_status_t rc = call(OpWaitDone, handle);
  if (rc != PMIX_SUCCESS) {
    delete handle;  // the callback will not run
    return rc == PMIX_OPERATION_SUCCEEDED ? PMIX_SUCCESS : rc;
  }
  absl::MutexLock lock(&wait->mutex);
  if (!wait->mutex.AwaitWithTimeout(absl::Condition(&wait->done), timeout)) {
    return PMIX_ERR_TIMEOUT;  // `handle` stays alive for a late callback
  }
  return wait->status;
}

}  // namespace pmi_shim::pmix
