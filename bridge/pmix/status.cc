#include "bridge/pmix/status.h"

#include <pmix.h>

#include "absl/strings/str_cat.h"

namespace pmi_shim::pmix {

absl::Status FromPmix(pmix_status_t rc, absl::string_view what) {
  if (rc == PMIX_SUCCESS || rc == PMIX_OPERATION_SUCCEEDED) return absl::OkStatus();
  const std::string message = absl::StrCat(what, ": ", PMIx_Error_string(rc), " (", rc, ")");
  switch (rc) {
    case PMIX_ERR_LOST_CONNECTION:
    case PMIX_ERR_UNREACH:
      return absl::UnavailableError(message);
    case PMIX_ERR_NOT_FOUND:
      return absl::NotFoundError(message);
    case PMIX_ERR_TIMEOUT:
      return absl::DeadlineExceededError(message);
    case PMIX_ERR_INIT:
      return absl::FailedPreconditionError(message);
    case PMIX_ERR_BAD_PARAM:
      return absl::InvalidArgumentError(message);
    case PMIX_ERR_NOT_SUPPORTED:
      return absl::UnimplementedError(message);
    case PMIX_ERR_NO_PERMISSIONS:
      return absl::PermissionDeniedError(message);
    default:
      return absl::InternalError(message);
  }
}

pmix_status_t ToPmix(const absl::Status& status) {
  switch (status.code()) {
    case absl::StatusCode::kOk:
      return PMIX_SUCCESS;
    case absl::StatusCode::kUnavailable:
      return PMIX_ERR_UNREACH;
    case absl::StatusCode::kNotFound:
      return PMIX_ERR_NOT_FOUND;
    case absl::StatusCode::kDeadlineExceeded:
      return PMIX_ERR_TIMEOUT;
    case absl::StatusCode::kInvalidArgument:
    case absl::StatusCode::kOutOfRange:
      return PMIX_ERR_BAD_PARAM;
    case absl::StatusCode::kUnimplemented:
      return PMIX_ERR_NOT_SUPPORTED;
    case absl::StatusCode::kPermissionDenied:
      return PMIX_ERR_NO_PERMISSIONS;
    default:
      return PMIX_ERROR;
  }
}

}  // namespace pmi_shim::pmix
