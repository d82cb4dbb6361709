// PendingCalls: the callback registry for non-blocking libpmix calls.
//
// A non-blocking libpmix call takes a callback and a `cbdata` pointer and
// answers on libpmix's progress thread, possibly after the caller is gone.
// PendingCalls makes each cbdata a Call that it owns, keeps alive what
// libpmix points into until the answer (PMIx_Get_nb keeps the proc, key and
// info array it was given), and runs the caller's reply on the event loop:
//
//   pmix::PendingCalls::Call* call = calls.Start(
//       "PMIx get of k from rank 3", [](absl::StatusOr<std::string> value) { ... });
//   PMIX_LOAD_PROCID(&call->proc, nspace, 3);
//   call->key = "k";
//   call->info.AddBool(PMIX_IMMEDIATE, true);
//   pmix_status_t rc = PMIx_Get_nb(&call->proc, call->key.c_str(), call->info.data(),
//                                  call->info.size(), &pmix::PendingCalls::OnValue, call);
//   if (rc != PMIX_SUCCESS) calls.Refused(call, rc);
//
// Each reply runs exactly once, on the loop's thread, unless the
// PendingCalls is destroyed first: with libpmix's answer, with the mapped
// error of Refused (before Refused returns), or with FailAll's status (the
// late answer is then dropped). Start, Refused, FailAll and pending() are
// for the loop's thread; the On* callbacks and Finish for any thread.
//
// Calls libpmix never answers stay allocated (libpmix may still write
// through them) until ForgetUnanswered, which is only safe once libpmix's
// progress thread has stopped (after PMIx_Finalize).
#ifndef PMI_SHIM_BRIDGE_PMIX_PENDING_CALLS_H_
#define PMI_SHIM_BRIDGE_PMIX_PENDING_CALLS_H_

#include <pmix_common.h>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "bridge/pmix/info_list.h"
#include "bridge/pmix/loop_handoff.h"
#include "common/event_loop.h"

namespace pmi_shim::pmix {

class PendingCalls {
  struct Shared;

 public:
  // The call's result: a value's bytes, "" for a call that only succeeds.
  using Reply = std::function<void(absl::StatusOr<std::string>)>;

  // One call in flight; its address is the cbdata. The fields are storage
  // for the caller to fill and libpmix to point into.
  class Call {
   public:
    const std::string& what() const { return what_; }
    pmix_proc_t proc;
    std::string key;
    InfoList info;

   private:
    friend class PendingCalls;
    Call() = default;
    std::string what_;  // context for errors, e.g. "PMIx fence of barrier 2"
    uint64_t id_ = 0;
    std::shared_ptr<Shared> shared_;
  };

  explicit PendingCalls(EventLoop& loop);
  // Replies not yet run never run; answers arriving later are dropped.
  ~PendingCalls();
  PendingCalls(const PendingCalls&) = delete;
  PendingCalls& operator=(const PendingCalls&) = delete;

  // Registers a call whose answer goes to `reply`; returns its cbdata.
  Call* Start(std::string what, Reply reply);
  // libpmix refused `call` (returned `rc` instead of taking it): runs its
  // reply now with FromPmix(rc, what) and frees it.
  void Refused(Call* call, pmix_status_t rc);
  // Runs every reply not yet run with `status` (the server is lost).
  void FailAll(const absl::Status& status);
  // Replies not yet run.
  size_t pending() const { return replies_.size(); }
  // Frees the calls libpmix never answered; only once its thread stopped.
  void ForgetUnanswered();

  // Any thread: the answer to `call` (a cbdata from Start). Used by the
  // callbacks below; tests call it directly.
  static void Finish(void* call, absl::StatusOr<std::string> result);

  // libpmix callbacks, for use with the matching calls:
  // pmix_op_cbfunc_t (PMIx_Fence_nb, PMIx_Commit-like operations): "".
  static void OnOpDone(pmix_status_t status, void* cbdata);
  // pmix_value_cbfunc_t (PMIx_Get_nb): the value as bytes
  // (ValueToString); takes ownership of `value`.
  static void OnValue(pmix_status_t status, pmix_value_t* value, void* cbdata);
  // pmix_dmodex_response_fn_t (PMIx_server_dmodex_request): the blob.
  static void OnModexData(pmix_status_t status, char* data, size_t size, void* cbdata);

 private:
  void Complete(uint64_t id, absl::StatusOr<std::string> result);

  std::shared_ptr<Shared> shared_;
  LoopHandoff<PendingCalls> handoff_;
  absl::flat_hash_map<uint64_t, Reply> replies_;  // loop thread only
  uint64_t next_id_ = 1;
};

// Runs a non-blocking libpmix call that reports through a pmix_op_cbfunc_t
// and waits up to `timeout` for its answer: `call(cbfunc, cbdata)` must
// pass both on to libpmix. For setup on the loop's thread (registering a
// namespace, a client), never inside an upcall, which would wait for the
// thread it blocks. PMIX_ERR_TIMEOUT if no answer came in time.
pmix_status_t CallAndWait(const std::function<pmix_status_t(pmix_op_cbfunc_t, void*)>& call,
                          absl::Duration timeout = absl::Seconds(60));

}  // namespace pmi_shim::pmix

#endif  // PMI_SHIM_BRIDGE_PMIX_PENDING_CALLS_H_
