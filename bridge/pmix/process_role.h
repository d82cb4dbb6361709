// ProcessRole: the once-per-process guard for one libpmix role, and the way
// its upcalls find their owner.
//
// libpmix keeps its server (PMIx_server_init) and its client connection
// (PMIx_Init, reference counted: a second caller would share and later
// finalize the first's) in process globals, so each role has at most one
// owner per process. Server upcalls and event handlers carry no user
// pointer either, so they reach the owner through the role:
//
//   pmix::ProcessRole<Core>& Role() {
//     static auto* role = new pmix::ProcessRole<Core>("a PMIx server already runs ...");
//     return *role;   // never destroyed: libpmix's thread may call at exit
//   }
//   RETURN_IF_ERROR(Role().Acquire());        // FailedPrecondition if taken
//   Role().Attach(handoff.handle());
//   ...                                       // an upcall, libpmix thread:
//   if (!Role().Post([](Core& c) { ... })) return PMIX_ERR_INIT;
//   ...
//   Role().Detach(); Role().Release();        // or keep it: see PmixServer::Stop
#ifndef PMI_SHIM_BRIDGE_PMIX_PROCESS_ROLE_H_
#define PMI_SHIM_BRIDGE_PMIX_PROCESS_ROLE_H_

#include <atomic>
#include <mutex>
#include <string>
#include <utility>

#include "absl/status/status.h"
#include "bridge/pmix/loop_handoff.h"

namespace pmi_shim::pmix {

template <typename Owner>
class ProcessRole {
 public:
  // `busy_message`: Acquire's error while another owner holds the role.
  explicit ProcessRole(std::string busy_message) : busy_message_(std::move(busy_message)) {}
  ProcessRole(const ProcessRole&) = delete;
  ProcessRole& operator=(const ProcessRole&) = delete;

  // Thread-safe. Takes the role until Release(): FailedPrecondition if held.
  absl::Status Acquire() {
    if (held_.exchange(true)) return absl::FailedPreconditionError(busy_message_);
    return absl::OkStatus();
  }
  // Detaches and frees the role for the next owner.
  void Release() {
    Detach();
    held_ = false;
  }
  bool held() const { return held_; }

  // Where upcalls go from now on / from now on nowhere.
  void Attach(typename LoopHandoff<Owner>::Handle handle) {
    std::lock_guard<std::mutex> lock(mutex_);
    handle_ = std::move(handle);
  }
  void Detach() { Attach({}); }

  // Thread-safe: posts `task` to the attached owner's loop. False if no
  // owner is attached or its handoff is closed.
  bool Post(typename LoopHandoff<Owner>::Task task) const {
    typename LoopHandoff<Owner>::Handle handle;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      handle = handle_;
    }
    return handle.Post(std::move(task));
  }

 private:
  const std::string busy_message_;
  std::atomic<bool> held_{false};
  mutable std::mutex mutex_;
  typename LoopHandoff<Owner>::Handle handle_;  // guarded by mutex_
};

}  // namespace pmi_shim::pmix

#endif  // PMI_SHIM_BRIDGE_PMIX_PROCESS_ROLE_H_
