#include "common/event_loop.h"

#include <gtest/gtest.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <string>
#include <thread>
#include <vector>

#include "test/testing/status_matchers.h"

namespace pmi_shim {
namespace {

TEST(EventLoopTest, TimersRunInDeadlineOrderAndCanBeCancelled) {
  EventLoop loop;
  std::vector<int> order;
  loop.AddTimer(absl::Milliseconds(20), [&] { order.push_back(2); });
  EventLoop::TimerId cancelled =
      loop.AddTimer(absl::Milliseconds(10), [&] { order.push_back(99); });
  loop.AddTimer(absl::Milliseconds(5), [&] { order.push_back(1); });
  loop.AddTimer(absl::Milliseconds(30), [&] { loop.Stop(); });
  loop.CancelTimer(cancelled);
  ASSERT_OK(loop.Run());
  EXPECT_EQ(order, (std::vector<int>{1, 2}));
}

TEST(EventLoopTest, DeliversReadableFdAndStopsWatchingAfterUnwatch) {
  int pair[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM, 0, pair), 0);
  UniqueFd a(pair[0]), b(pair[1]);
  EventLoop loop;
  std::string received;
  int calls = 0;
  ASSERT_OK(loop.Watch(a.get(), EPOLLIN, [&](uint32_t events) {
    ++calls;
    char buffer[16];
    ssize_t n = ::read(a.get(), buffer, sizeof(buffer));
    received.append(buffer, n > 0 ? n : 0);
    loop.Unwatch(a.get());  // a handler may drop its own fd
  }));
  ASSERT_EQ(::write(b.get(), "hi", 2), 2);
  loop.AddTimer(absl::Milliseconds(50), [&] {
    (void)!::write(b.get(), "again", 5);  // must not reach the handler any more
    loop.AddTimer(absl::Milliseconds(20), [&] { loop.Stop(); });
  });
  ASSERT_OK(loop.Run());
  EXPECT_EQ(received, "hi");
  EXPECT_EQ(calls, 1);
}

TEST(EventLoopTest, PostFromAnotherThreadRunsOnTheLoopInOrder) {
  EventLoop loop;
  std::vector<int> seen;
  std::thread poster([&] {
    for (int i = 0; i < 100; ++i) loop.Post([&seen, i] { seen.push_back(i); });
    loop.Post([&] { loop.Stop(); });
  });
  loop.AddTimer(absl::Seconds(10), [&] { loop.Stop(); });  // never hang the suite
  ASSERT_OK(loop.Run());
  poster.join();
  ASSERT_EQ(seen.size(), 100u);
  for (int i = 0; i < 100; ++i) EXPECT_EQ(seen[i], i);
}

TEST(EventLoopTest, WatchingAnInvalidFdIsAnError) {
  EventLoop loop;
  EXPECT_FALSE(loop.Watch(-1, EPOLLIN, [](uint32_t) {}).ok());
}

}  // namespace
}  // namespace pmi_shim
