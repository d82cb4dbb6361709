#include "bridge/pmix/status.h"

#include <gtest/gtest.h>
#include <pmix.h>

#include <string>

#include "test/testing/status_matchers.h"

namespace pmi_shim::pmix {
namespace {

TEST(FromPmixTest, SuccessAndOperationSucceededAreOk) {
  EXPECT_OK(FromPmix(PMIX_SUCCESS, "x"));
  EXPECT_OK(FromPmix(PMIX_OPERATION_SUCCEEDED, "x"));
}

TEST(FromPmixTest, MapsTheCodesThatChangeWhatTheBridgeDoes) {
  EXPECT_EQ(FromPmix(PMIX_ERR_LOST_CONNECTION, "fence").code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(FromPmix(PMIX_ERR_UNREACH, "fence").code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(FromPmix(PMIX_ERR_NOT_FOUND, "get").code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(FromPmix(PMIX_ERR_INIT, "get").code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(FromPmix(PMIX_ERR_BAD_PARAM, "get").code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(FromPmix(PMIX_ERR_NOT_SUPPORTED, "x").code(), absl::StatusCode::kUnimplemented);
  EXPECT_EQ(FromPmix(PMIX_ERR_NO_PERMISSIONS, "x").code(), absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(FromPmix(PMIX_ERROR, "x").code(), absl::StatusCode::kInternal);
  EXPECT_EQ(FromPmix(PMIX_ERR_OUT_OF_RESOURCE, "x").code(), absl::StatusCode::kInternal);
}

TEST(FromPmixTest, MessageNamesTheCallAndTheCode) {
  absl::Status timeout = FromPmix(PMIX_ERR_TIMEOUT, "get of k1");
  EXPECT_EQ(timeout.code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_EQ(timeout.message(), std::string("get of k1: ") + PMIx_Error_string(PMIX_ERR_TIMEOUT) +
                                   " (" + std::to_string(PMIX_ERR_TIMEOUT) + ")");
}

TEST(ToPmixTest, InvertsFromPmixForTheMappedCodes) {
  for (pmix_status_t rc : {PMIX_SUCCESS, PMIX_ERR_UNREACH, PMIX_ERR_NOT_FOUND, PMIX_ERR_TIMEOUT,
                           PMIX_ERR_BAD_PARAM, PMIX_ERR_NOT_SUPPORTED, PMIX_ERR_NO_PERMISSIONS}) {
    EXPECT_EQ(ToPmix(FromPmix(rc, "x")), rc) << PMIx_Error_string(rc);
  }
}

TEST(ToPmixTest, EverythingElseIsAPlainError) {
  EXPECT_EQ(ToPmix(absl::OutOfRangeError("rank 9")), PMIX_ERR_BAD_PARAM);
  EXPECT_EQ(ToPmix(absl::DataLossError("bad segment")), PMIX_ERROR);
  EXPECT_EQ(ToPmix(absl::InternalError("x")), PMIX_ERROR);
  // Not PMIX_ERR_INIT: that would tell the client its own library is down.
  EXPECT_EQ(ToPmix(absl::FailedPreconditionError("x")), PMIX_ERROR);
}

}  // namespace
}  // namespace pmi_shim::pmix
