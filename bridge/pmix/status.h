// The one map between libpmix return codes and absl::Status, for both PMIx
// sides of the bridge (PmixServer downstream, PmixClientHost upstream).
//
//   RETURN_IF_ERROR(pmix::FromPmix(PMIx_Commit(), "PMIx commit"));
//   cbfunc(pmix::ToPmix(status), cbdata);   // an upcall's answer to libpmix
//
// The codes that change what the bridge does keep their meaning both ways:
// a lost server is Unavailable (the job is over), a missing key NotFound (a
// PMI get answers found=FALSE), a timeout DeadlineExceeded. Codes without a
// closer match become Internal (FromPmix) or PMIX_ERROR (ToPmix).
#ifndef PMI_SHIM_BRIDGE_PMIX_STATUS_H_
#define PMI_SHIM_BRIDGE_PMIX_STATUS_H_

#include <pmix_common.h>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace pmi_shim::pmix {

// OK for PMIX_SUCCESS and PMIX_OPERATION_SUCCEEDED (a non-blocking call
// that finished at once); otherwise "<what>: <libpmix's name> (<rc>)" with
//   PMIX_ERR_LOST_CONNECTION, PMIX_ERR_UNREACH -> Unavailable
//   PMIX_ERR_NOT_FOUND                         -> NotFound
//   PMIX_ERR_TIMEOUT                           -> DeadlineExceeded
//   PMIX_ERR_INIT                              -> FailedPrecondition
//   PMIX_ERR_BAD_PARAM                         -> InvalidArgument
//   PMIX_ERR_NOT_SUPPORTED                     -> Unimplemented
//   PMIX_ERR_NO_PERMISSIONS                    -> PermissionDenied
//   anything else                              -> Internal
absl::Status FromPmix(pmix_status_t rc, absl::string_view what);

// The code to hand libpmix for `status`: the inverse of FromPmix for the
// codes above (Unavailable -> PMIX_ERR_UNREACH; OutOfRange, like
// InvalidArgument, -> PMIX_ERR_BAD_PARAM), PMIX_ERROR for the rest.
// FailedPrecondition is PMIX_ERROR too: PMIX_ERR_INIT would tell a client
// that its own library is not initialised.
pmix_status_t ToPmix(const absl::Status& status);

}  // namespace pmi_shim::pmix

#endif  // PMI_SHIM_BRIDGE_PMIX_STATUS_H_
