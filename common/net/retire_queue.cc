#include "common/net/retire_queue.h"

#include <utility>

namespace pmi_shim::net {

RetireQueue::~RetireQueue() { Clear(); }

void RetireQueue::Retire(std::shared_ptr<void> object) {
  if (object == nullptr) return;
  retired_.push_back(std::move(object));
  if (timer_ != 0) return;
  timer_ = loop_.AddTimer(absl::ZeroDuration(), [this] {
    timer_ = 0;
    Clear();
  });
}

void RetireQueue::Clear() {
  // A destructor may retire something else: free detached batches until
  // none is left, then drop the timer that such a Retire may have set.
  std::vector<std::shared_ptr<void>> batch;
  while (!retired_.empty()) {
    batch.swap(retired_);
    batch.clear();
  }
  if (timer_ != 0) loop_.CancelTimer(timer_);
  timer_ = 0;
}

}  // namespace pmi_shim::net
