// RetireQueue: frees objects on the event loop's next tick.
//
// A connection that ends inside one of its own handlers cannot be destroyed
// there: the handler's frame, and the objects that called it, still use it.
// Its owner hands it to the queue instead, and the queue frees it from a
// zero-delay timer, after the current dispatch round.
//
//   RetireQueue retired(loop);
//   retired.Retire(std::move(connections_.extract(fd).mapped()));
//
// Objects must already be inert (unwatched, closed) when retired: the queue
// only ends their lifetime. Everything on the loop's thread.
#ifndef PMI_SHIM_COMMON_NET_RETIRE_QUEUE_H_
#define PMI_SHIM_COMMON_NET_RETIRE_QUEUE_H_

#include <cstddef>
#include <memory>
#include <vector>

#include "common/event_loop.h"

namespace pmi_shim::net {

class RetireQueue {
 public:
  explicit RetireQueue(EventLoop& loop) : loop_(loop) {}
  ~RetireQueue();
  RetireQueue(const RetireQueue&) = delete;
  RetireQueue& operator=(const RetireQueue&) = delete;

  // Frees `object` soon, after the current handler returned. Takes a
  // std::unique_ptr of any type as well (it converts).
  void Retire(std::shared_ptr<void> object);

  // Frees everything queued now; only from outside their handlers.
  void Clear();

  size_t size() const { return retired_.size(); }

 private:
  EventLoop& loop_;
  std::vector<std::shared_ptr<void>> retired_;
  EventLoop::TimerId timer_ = 0;
};

}  // namespace pmi_shim::net

#endif  // PMI_SHIM_COMMON_NET_RETIRE_QUEUE_H_
