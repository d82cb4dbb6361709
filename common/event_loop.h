// EventLoop: a single-threaded epoll reactor with one-shot timers.
//
// Every long-running pmi-shim process (the launcher, the bridge) serves all
// its clients from one thread: fds become readable or writable, the loop
// calls their handlers, handlers never block. There is no thread per client.
//
//   EventLoop loop;
//   loop.Watch(fd, EPOLLIN, [&](uint32_t events) { ... });
//   loop.AddTimer(absl::Seconds(2), [&] { ... });
//   loop.Run();   // until a handler calls loop.Stop()
//
// Handlers may Watch/Unwatch any fd (their own included) and add or cancel
// timers while running; an fd unwatched during a dispatch round gets no
// further calls in that round.
//
// Other threads (libpmix calls back from its own progress thread) hand work
// to the loop with Post(), the only thread-safe member.
#ifndef PMI_SHIM_COMMON_EVENT_LOOP_H_
#define PMI_SHIM_COMMON_EVENT_LOOP_H_

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/time/time.h"
#include "common/unique_fd.h"

namespace pmi_shim {

class EventLoop {
 public:
  using FdHandler = std::function<void(uint32_t events)>;
  using TimerHandler = std::function<void()>;
  using TimerId = uint64_t;

  EventLoop();
  EventLoop(const EventLoop&) = delete;
  EventLoop& operator=(const EventLoop&) = delete;

  // False if the epoll instance could not be created (see Run's error).
  bool ok() const { return epoll_fd_.valid(); }

  // Calls `handler` with the ready epoll events (EPOLLIN, EPOLLOUT, EPOLLHUP,
  // EPOLLERR) of `fd`. The fd stays owned by the caller and must be unwatched
  // before it is closed.
  absl::Status Watch(int fd, uint32_t events, FdHandler handler);
  absl::Status Modify(int fd, uint32_t events);
  void Unwatch(int fd);

  // Runs `handler` once, `delay` from now.
  TimerId AddTimer(absl::Duration delay, TimerHandler handler);
  void CancelTimer(TimerId id);

  // Thread-safe: runs `task` on the loop's thread, soon, in posting order.
  void Post(std::function<void()> task);

  // Dispatches events until Stop() is called. Fails only if epoll does.
  absl::Status Run();
  void Stop() { stopped_ = true; }

 private:
  // Milliseconds until the next timer is due (-1: none).
  int NextTimeoutMs() const;
  void RunDueTimers();
  void RunPosted();

  UniqueFd epoll_fd_;
  UniqueFd wake_fd_;  // eventfd that Post() signals
  // std::mutex rather than absl::Mutex: Debian's abseil is not built for
  // ThreadSanitizer, which then could not see this lock.
  std::mutex posted_mutex_;
  std::vector<std::function<void()>> posted_;  // guarded by posted_mutex_
  absl::flat_hash_map<int, std::shared_ptr<FdHandler>> handlers_;
  // Keyed by (deadline, id) so timers with one deadline run in creation order.
  std::map<std::pair<absl::Time, TimerId>, TimerHandler> timers_;
  absl::flat_hash_map<TimerId, absl::Time> timer_deadlines_;
  TimerId next_timer_id_ = 1;
  bool stopped_ = false;
};

}  // namespace pmi_shim

#endif  // PMI_SHIM_COMMON_EVENT_LOOP_H_
