// LoopHandoff and ProcessRole: work from another thread reaches the owner on
// the loop, and nothing reaches it once it closed or detached.
#include "bridge/pmix/loop_handoff.h"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>
#include <vector>

#include "bridge/pmix/process_role.h"
#include "common/event_loop.h"
#include "test/testing/status_matchers.h"

namespace pmi_shim::pmix {
namespace {

struct Owner {
  std::vector<int> seen;
  std::thread::id thread;
};

TEST(LoopHandoffTest, TasksFromAnotherThreadRunOnTheLoopInOrder) {
  EventLoop loop;
  Owner owner;
  LoopHandoff<Owner> handoff(loop, owner);
  LoopHandoff<Owner>::Handle handle = handoff.handle();
  std::thread progress([&] {
    for (int i = 0; i < 50; ++i) {
      EXPECT_TRUE(handle.Post([i](Owner& o) {
        o.seen.push_back(i);
        o.thread = std::this_thread::get_id();
      }));
    }
    handle.Post([&](Owner&) { loop.Stop(); });
  });
  loop.AddTimer(absl::Seconds(10), [&] { loop.Stop(); });
  ASSERT_OK(loop.Run());
  progress.join();
  ASSERT_EQ(owner.seen.size(), 50u);
  for (int i = 0; i < 50; ++i) EXPECT_EQ(owner.seen[i], i);
  EXPECT_EQ(owner.thread, std::this_thread::get_id());
}

TEST(LoopHandoffTest, QueuedTasksAreDroppedOnceClosedAndLaterPostsFail) {
  EventLoop loop;
  Owner owner;
  auto handoff = std::make_unique<LoopHandoff<Owner>>(loop, owner);
  LoopHandoff<Owner>::Handle handle = handoff->handle();
  ASSERT_TRUE(handle.Post([](Owner& o) { o.seen.push_back(1); }));
  handoff->Close();  // before the loop got to the task
  EXPECT_FALSE(handle.open());
  EXPECT_FALSE(handle.Post([](Owner& o) { o.seen.push_back(2); }));
  handoff.reset();  // a handle outlives its handoff
  EXPECT_FALSE(handle.Post([](Owner& o) { o.seen.push_back(3); }));
  loop.AddTimer(absl::Milliseconds(20), [&] { loop.Stop(); });
  ASSERT_OK(loop.Run());
  EXPECT_TRUE(owner.seen.empty());
}

TEST(LoopHandoffTest, EmptyHandlePostsNothing) {
  LoopHandoff<Owner>::Handle handle;
  EXPECT_FALSE(handle.open());
  EXPECT_FALSE(handle.Post([](Owner&) { ADD_FAILURE() << "ran"; }));
}

TEST(ProcessRoleTest, OneOwnerAtATime) {
  ProcessRole<Owner> role("busy: one per process");
  ASSERT_OK(role.Acquire());
  EXPECT_TRUE(role.held());
  absl::Status second = role.Acquire();
  EXPECT_EQ(second.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(second.message(), "busy: one per process");
  role.Release();
  EXPECT_FALSE(role.held());
  EXPECT_OK(role.Acquire());
}

TEST(ProcessRoleTest, PostsReachTheAttachedOwnerOnly) {
  EventLoop loop;
  Owner owner;
  LoopHandoff<Owner> handoff(loop, owner);
  ProcessRole<Owner> role("busy");
  ASSERT_OK(role.Acquire());
  EXPECT_FALSE(role.Post([](Owner& o) { o.seen.push_back(0); }));  // nobody attached yet
  role.Attach(handoff.handle());
  std::thread upcall([&] { EXPECT_TRUE(role.Post([](Owner& o) { o.seen.push_back(1); })); });
  upcall.join();
  loop.AddTimer(absl::Milliseconds(20), [&] { loop.Stop(); });
  ASSERT_OK(loop.Run());
  role.Detach();
  EXPECT_FALSE(role.Post([](Owner& o) { o.seen.push_back(2); }));
  role.Attach(handoff.handle());
  handoff.Close();  // an owner that closed is as good as detached
  EXPECT_FALSE(role.Post([](Owner& o) { o.seen.push_back(3); }));
  EXPECT_EQ(owner.seen, std::vector<int>{1});
  role.Release();
}

}  // namespace
}  // namespace pmi_shim::pmix
