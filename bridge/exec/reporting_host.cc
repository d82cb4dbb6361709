#include "bridge/exec/reporting_host.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "common/log.h"

namespace pmi_shim::exec {

void ReportingHost::Abort(int rank, int exit_code, std::string message) {
  log::Error(absl::StrCat("rank ", rank, ": aborted the job with exit code ", exit_code,
                          message.empty() ? "" : ": ", message));
  ForwardingHost::Abort(rank, exit_code, std::move(message));
}

void ReportingHost::Lost(int rank, std::string reason) {
  if (!quiet_) log::Error(absl::StrCat(reason, "; aborting the job"));
  ForwardingHost::Lost(rank, std::move(reason));
}

}  // namespace pmi_shim::exec
