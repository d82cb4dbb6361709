// Helpers for the common/net tests: socketpairs, a loop that runs until a
// condition holds, and non-blocking reads and writes for the test's side.
#ifndef PMI_SHIM_COMMON_NET_NET_TEST_UTIL_H_
#define PMI_SHIM_COMMON_NET_NET_TEST_UTIL_H_

#include <cstddef>
#include <functional>
#include <string>
#include <utility>

#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "common/event_loop.h"
#include "common/unique_fd.h"

namespace pmi_shim::net::testing {

// A connected AF_UNIX stream pair, close-on-exec.
std::pair<UniqueFd, UniqueFd> SocketPair();

// Shrinks the kernel's send and receive buffers of `fd`, so that
// backpressure shows after a few KiB instead of a few hundred.
void ShrinkBuffers(int fd);

// Runs `loop` until `done()` holds (called once every millisecond, so it may
// read or reap) or `timeout` passes; returns whether it held.
bool RunUntil(EventLoop& loop, const std::function<bool()>& done,
              absl::Duration timeout = absl::Seconds(10));
// Runs `loop` for `duration`.
void RunFor(EventLoop& loop, absl::Duration duration);

// What the test's side of a socket has now, without blocking. Sets `eof`
// when the peer ended its stream (or the socket failed).
std::string ReadNow(int fd, bool* eof = nullptr);

// Writes as much of `bytes` as the socket takes now; returns the count.
size_t WriteNow(int fd, absl::string_view bytes);

// `size` bytes that differ from their neighbours, so that a lost, doubled or
// reordered chunk shows.
std::string Pattern(size_t size);

}  // namespace pmi_shim::net::testing

#endif  // PMI_SHIM_COMMON_NET_NET_TEST_UTIL_H_
