// RunInOwnSession: the body runs in a new session, its status comes back,
// and signals sent to the front reach it.
#include "bridge/launch/own_session.h"

#include <signal.h>
#include <time.h>
#include <unistd.h>

#include "gtest/gtest.h"

namespace pmi_shim::launch {
namespace {

TEST(OwnSessionTest, TheBodyLeadsANewSessionAndItsStatusComesBack) {
  const pid_t front = ::getpid();
  const pid_t front_session = ::getsid(0);
  const int status = RunInOwnSession([&] {
    const bool own = ::getsid(0) == ::getpid() && ::getpid() != front && ::getppid() == front &&
                     ::getsid(0) != front_session;
    return own ? 7 : 1;
  });
  EXPECT_EQ(status, 7);
}

TEST(OwnSessionTest, ADeathBySignalIs128PlusTheSignal) {
  EXPECT_EQ(RunInOwnSession([] { return ::raise(SIGKILL); }), 128 + SIGKILL);
}

// Ctrl-C reaches the terminal's foreground group, which holds the front
// only: the front passes it on.
TEST(OwnSessionTest, SignalsToTheFrontAreForwarded) {
  const int status = RunInOwnSession([] {
    sigset_t interrupt;
    sigemptyset(&interrupt);
    sigaddset(&interrupt, SIGINT);
    ::sigprocmask(SIG_BLOCK, &interrupt, nullptr);
    ::kill(::getppid(), SIGINT);
    const timespec five_seconds{5, 0};
    return ::sigtimedwait(&interrupt, nullptr, &five_seconds) == SIGINT ? 42 : 1;
  });
  EXPECT_EQ(status, 42);
}

}  // namespace
}  // namespace pmi_shim::launch
