#include "bridge/exec/deferred_host.h"

#include <gtest/gtest.h>

#include "bridge/upstream/embedded_host.h"
#include "test/testing/status_matchers.h"

namespace pmi_shim::exec {
namespace {

TEST(DeferredHost, ConnectsOnceOnFirstEnsure) {
  int connects = 0;
  session::JobInfo info;
  info.kvsname = "kvs";
  info.size = 4;
  upstream::EmbeddedHost real(info, {});
  DeferredHost host([&]() -> absl::StatusOr<session::JobHost*> {
    ++connects;
    return &real;
  });
  EXPECT_FALSE(host.connected());
  EXPECT_EQ(host.info().size, 1);  // placeholder until connected
  EXPECT_EQ(host.ClaimRank(2).code(), absl::StatusCode::kFailedPrecondition);
  absl::Status put_status;
  host.Put(2, "k", "v", [&](absl::Status s) { put_status = s; });
  EXPECT_FALSE(put_status.ok());
  EXPECT_EQ(connects, 0);

  ASSERT_OK(host.Ensure());
  ASSERT_OK(host.Ensure());
  EXPECT_EQ(connects, 1);
  EXPECT_TRUE(host.connected());
  EXPECT_EQ(host.info().size, 4);
  EXPECT_OK(host.ClaimRank(2));
}

TEST(DeferredHost, AFailedConnectIsNotRetried) {
  int connects = 0;
  DeferredHost host([&]() -> absl::StatusOr<session::JobHost*> {
    ++connects;
    return absl::UnavailableError("PMIx_Init: UNREACHABLE");
  });
  EXPECT_EQ(host.Ensure().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(host.Ensure().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(connects, 1);
  EXPECT_EQ(host.ClaimRank(0).code(), absl::StatusCode::kUnavailable);
  EXPECT_TRUE(host.Idle());
}

}  // namespace
}  // namespace pmi_shim::exec
