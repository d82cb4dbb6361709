// LoopHandoff: brings work from libpmix's progress thread to one object on
// the event loop, and stops doing so the moment that object goes away.
//
// libpmix calls its host (server upcalls, completion callbacks, event
// handlers) on a thread of its own, which may keep running after the object
// that started the work is gone (a PmixServer stopped after a failed job
// leaves libpmix running). Everything the bridge owns lives on the loop's
// thread, so a callback copies what it needs and posts a task:
//
//   pmix::LoopHandoff<Core> handoff(loop, core);       // owned by `core`
//   ...                                                 // libpmix thread:
//   if (!handle.Post([rank](Core& c) { c.OnFinalized(rank); })) return PMIX_ERR_INIT;
//   ...
//   handoff.Close();   // loop thread: queued tasks are dropped, Post fails
//
// The liveness check is the point: a task runs only if the handoff is still
// open when the loop gets to it, and once Close() has returned no thread
// touches the loop through this handoff again (so the loop may then be
// destroyed too). Handles are cheap copies for cbdata and globals; they stay
// safe to use after the LoopHandoff itself is destroyed.
#ifndef PMI_SHIM_BRIDGE_PMIX_LOOP_HANDOFF_H_
#define PMI_SHIM_BRIDGE_PMIX_LOOP_HANDOFF_H_

#include <functional>
#include <memory>
#include <mutex>
#include <utility>

#include "common/event_loop.h"

namespace pmi_shim::pmix {

template <typename Target>
class LoopHandoff {
  struct Shared {
    std::mutex mutex;
    EventLoop* loop = nullptr;
    Target* target = nullptr;  // nullptr once closed; guarded by mutex
  };

 public:
  using Task = std::function<void(Target&)>;

  // A copyable reference to a LoopHandoff; thread-safe.
  class Handle {
   public:
    Handle() = default;

    // Queues `task` to run on the loop's thread with the target, unless the
    // handoff is closed by then. False (and `task` dropped) if it is closed
    // already or the handle is empty.
    bool Post(Task task) const {
      if (shared_ == nullptr) return false;
      std::lock_guard<std::mutex> lock(shared_->mutex);
      if (shared_->target == nullptr) return false;
      shared_->loop->Post([shared = shared_, task = std::move(task)] {
        Target* target = nullptr;
        {
          std::lock_guard<std::mutex> lock(shared->mutex);
          target = shared->target;
        }
        if (target != nullptr) task(*target);
      });
      return true;
    }

    bool open() const {
      if (shared_ == nullptr) return false;
      std::lock_guard<std::mutex> lock(shared_->mutex);
      return shared_->target != nullptr;
    }

   private:
    friend class LoopHandoff;
    explicit Handle(std::shared_ptr<Shared> shared) : shared_(std::move(shared)) {}
    std::shared_ptr<Shared> shared_;
  };

  // Open until Close(); `loop` and `target` must live until then.
  LoopHandoff(EventLoop& loop, Target& target) : shared_(std::make_shared<Shared>()) {
    shared_->loop = &loop;
    shared_->target = &target;
  }
  ~LoopHandoff() { Close(); }
  LoopHandoff(const LoopHandoff&) = delete;
  LoopHandoff& operator=(const LoopHandoff&) = delete;

  Handle handle() const { return Handle(shared_); }
  bool Post(Task task) const { return handle().Post(std::move(task)); }
  bool open() const { return handle().open(); }

  // Idempotent. Call it on the loop's thread (a task running there is then
  // not running concurrently); tasks still queued become no-ops.
  void Close() {
    std::lock_guard<std::mutex> lock(shared_->mutex);
    shared_->target = nullptr;
  }

 private:
  std::shared_ptr<Shared> shared_;
};

}  // namespace pmi_shim::pmix

#endif  // PMI_SHIM_BRIDGE_PMIX_LOOP_HANDOFF_H_
