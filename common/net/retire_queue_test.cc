#include "common/net/retire_queue.h"

#include <gtest/gtest.h>

#include <memory>

#include "test/testing/status_matchers.h"

namespace pmi_shim::net {
namespace {

// Counts its own destruction; may retire another object when it goes.
struct Tracked {
  Tracked(int& destroyed, RetireQueue* chain = nullptr) : destroyed(destroyed), chain(chain) {}
  ~Tracked() {
    ++destroyed;
    if (chain != nullptr) chain->Retire(std::make_unique<Tracked>(destroyed));
  }
  int& destroyed;
  RetireQueue* chain;
};

TEST(RetireQueueTest, FreesOnTheNextTickNotBefore) {
  EventLoop loop;
  RetireQueue queue(loop);
  int destroyed = 0;
  loop.AddTimer(absl::ZeroDuration(), [&] {
    queue.Retire(std::make_unique<Tracked>(destroyed));
    queue.Retire(std::make_unique<Tracked>(destroyed));
    EXPECT_EQ(destroyed, 0) << "freed inside the handler that retired it";
    EXPECT_EQ(queue.size(), 2u);
  });
  loop.AddTimer(absl::Milliseconds(20), [&] { loop.Stop(); });
  ASSERT_OK(loop.Run());
  EXPECT_EQ(destroyed, 2);
  EXPECT_EQ(queue.size(), 0u);
}

TEST(RetireQueueTest, ObjectsRetiredByADestructorAreFreedToo) {
  EventLoop loop;
  int destroyed = 0;
  {
    RetireQueue queue(loop);
    queue.Retire(std::make_unique<Tracked>(destroyed, &queue));
    queue.Clear();
    EXPECT_EQ(destroyed, 2);
  }
  // No timer of the destroyed queue may fire now.
  loop.AddTimer(absl::Milliseconds(10), [&] { loop.Stop(); });
  ASSERT_OK(loop.Run());
  EXPECT_EQ(destroyed, 2);
}

TEST(RetireQueueTest, DestructionFreesWhatIsStillQueued) {
  EventLoop loop;
  int destroyed = 0;
  {
    RetireQueue queue(loop);
    queue.Retire(std::make_unique<Tracked>(destroyed));
  }
  EXPECT_EQ(destroyed, 1);
  loop.AddTimer(absl::Milliseconds(10), [&] { loop.Stop(); });
  ASSERT_OK(loop.Run());  // the cancelled timer must not run
}

}  // namespace
}  // namespace pmi_shim::net
