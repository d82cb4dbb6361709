#include "common/event_loop.h"

#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <cerrno>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"

namespace pmi_shim {

EventLoop::EventLoop()
    : epoll_fd_(::epoll_create1(EPOLL_CLOEXEC)),
      wake_fd_(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) {
  if (ok() && wake_fd_.valid()) {
    (void)Watch(wake_fd_.get(), EPOLLIN, [this](uint32_t) { RunPosted(); });
  }
}

void EventLoop::Post(std::function<void()> task) {
  {
    std::lock_guard<std::mutex> lock(posted_mutex_);
    posted_.push_back(std::move(task));
  }
  const uint64_t one = 1;
  (void)!::write(wake_fd_.get(), &one, sizeof(one));
}

void EventLoop::RunPosted() {
  uint64_t count;
  (void)!::read(wake_fd_.get(), &count, sizeof(count));
  std::vector<std::function<void()>> tasks;
  {
    std::lock_guard<std::mutex> lock(posted_mutex_);
    tasks.swap(posted_);
  }
  for (auto& task : tasks) task();
}

absl::Status EventLoop::Watch(int fd, uint32_t events, FdHandler handler) {
  epoll_event event{};
  event.events = events;
  event.data.fd = fd;
  if (::epoll_ctl(epoll_fd_.get(), EPOLL_CTL_ADD, fd, &event) != 0) {
    return absl::ErrnoToStatus(errno, absl::StrCat("epoll_ctl(ADD, fd ", fd, ")"));
  }
  handlers_[fd] = std::make_shared<FdHandler>(std::move(handler));
  return absl::OkStatus();
}

absl::Status EventLoop::Modify(int fd, uint32_t events) {
  epoll_event event{};
  event.events = events;
  event.data.fd = fd;
  if (::epoll_ctl(epoll_fd_.get(), EPOLL_CTL_MOD, fd, &event) != 0) {
    return absl::ErrnoToStatus(errno, absl::StrCat("epoll_ctl(MOD, fd ", fd, ")"));
  }
  return absl::OkStatus();
}

void EventLoop::Unwatch(int fd) {
  if (handlers_.erase(fd) > 0) ::epoll_ctl(epoll_fd_.get(), EPOLL_CTL_DEL, fd, nullptr);
}

EventLoop::TimerId EventLoop::AddTimer(absl::Duration delay, TimerHandler handler) {
  const TimerId id = next_timer_id_++;
  const absl::Time deadline = absl::Now() + delay;
  timers_.emplace(std::make_pair(deadline, id), std::move(handler));
  timer_deadlines_[id] = deadline;
  return id;
}

void EventLoop::CancelTimer(TimerId id) {
  auto it = timer_deadlines_.find(id);
  if (it == timer_deadlines_.end()) return;
  timers_.erase({it->second, id});
  timer_deadlines_.erase(it);
}

int EventLoop::NextTimeoutMs() const {
  if (timers_.empty()) return -1;
  const absl::Duration wait = timers_.begin()->first.first - absl::Now();
  if (wait <= absl::ZeroDuration()) return 0;
  return static_cast<int>(absl::ToInt64Milliseconds(absl::Ceil(wait, absl::Milliseconds(1))));
}

void EventLoop::RunDueTimers() {
  const absl::Time now = absl::Now();
  while (!timers_.empty() && timers_.begin()->first.first <= now && !stopped_) {
    auto node = timers_.extract(timers_.begin());
    timer_deadlines_.erase(node.key().second);
    node.mapped()();
  }
}

absl::Status EventLoop::Run() {
  if (!ok()) return absl::InternalError("epoll_create1 failed");
  stopped_ = false;
  constexpr int kMaxEvents = 64;
  epoll_event events[kMaxEvents];
  while (!stopped_) {
    const int ready = ::epoll_wait(epoll_fd_.get(), events, kMaxEvents, NextTimeoutMs());
    if (ready < 0) {
      if (errno == EINTR) continue;
      return absl::ErrnoToStatus(errno, "epoll_wait");
    }
    for (int i = 0; i < ready && !stopped_; ++i) {
      auto it = handlers_.find(events[i].data.fd);
      if (it == handlers_.end()) continue;              // unwatched earlier in this round
      std::shared_ptr<FdHandler> handler = it->second;  // survives its own Unwatch
      (*handler)(events[i].events);
    }
    RunDueTimers();
  }
  return absl::OkStatus();
}

}  // namespace pmi_shim
