// For tests linked with netns_test_main: skip (with the reason) when the
// private network namespace could not be created.
//
//   class LaunchTest : public ::testing::Test {
//     void SetUp() override { PMI_SHIM_REQUIRE_PRIVATE_NETNS(); }
//   };
//
// A per-test skip is used rather than a skipping global Environment because
// gtest 1.12 then records the tests as run and passed in its XML report.
#ifndef PMI_SHIM_TEST_TESTING_NETNS_TEST_MAIN_H_
#define PMI_SHIM_TEST_TESTING_NETNS_TEST_MAIN_H_

#include "gtest/gtest.h"
#include "test/testing/netns.h"

#define PMI_SHIM_REQUIRE_PRIVATE_NETNS()                                   \
  do {                                                                     \
    ::absl::Status pmi_shim_netns_ = ::pmi_shim::testutil::NetnsStatus();  \
    if (!pmi_shim_netns_.ok()) {                                           \
      GTEST_SKIP() << "no private network namespace: " << pmi_shim_netns_; \
    }                                                                      \
  } while (0)

#endif  // PMI_SHIM_TEST_TESTING_NETNS_TEST_MAIN_H_
