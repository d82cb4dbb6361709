// main() for end-to-end tests: enter a private network namespace, then run
// gtest. These tests start real MPI jobs whose traffic must stay on a private
// loopback. When the namespace cannot be created (no CAP_SYS_ADMIN) the tests
// are reported as SKIPPED with the reason, never as passed: each test calls
// PMI_SHIM_REQUIRE_PRIVATE_NETNS() (netns_test_main.h) in its SetUp.
#include <cstdio>
#include <utility>

#include "absl/status/status.h"
#include "gtest/gtest.h"
#include "test/testing/netns.h"

int main(int argc, char** argv) {
  // Before gtest starts: keep the process single-threaded for unshare.
  absl::Status status = pmi_shim::testutil::EnterPrivateNetworkNamespace();
  if (!status.ok()) {
    fprintf(stderr, "netns_test_main: tests will be skipped: %s\n", status.ToString().c_str());
  }
  pmi_shim::testutil::SetNetnsStatus(std::move(status));
  ::testing::InitGoogleTest(&argc, argv);
  return RUN_ALL_TESTS();
}
