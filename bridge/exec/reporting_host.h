// ReportingHost: a JobHost in front of another that says, on this process's
// stderr, why its rank ends the job.
//
// Under a real launcher the bridge forwards an abort (or the loss of its
// client) upstream, but launchers such as hydra 4.0.2 print nothing of a
// PMI abort's message: without this the user would see only an exit code.
// Every other call passes through unchanged.
#ifndef PMI_SHIM_BRIDGE_EXEC_REPORTING_HOST_H_
#define PMI_SHIM_BRIDGE_EXEC_REPORTING_HOST_H_

#include <string>

#include "bridge/session/forwarding_host.h"

namespace pmi_shim::exec {

class ReportingHost : public session::ForwardingHost {
 public:
  explicit ReportingHost(session::JobHost& inner) : ForwardingHost(inner) {}

  // Logged, then forwarded.
  void Abort(int rank, int exit_code, std::string message) override;
  void Lost(int rank, std::string reason) override;

  // The bridge itself is ending the rank (and said why): a lost client is
  // then its doing, not news.
  void Quiet() { quiet_ = true; }

 private:
  bool quiet_ = false;
};

}  // namespace pmi_shim::exec

#endif  // PMI_SHIM_BRIDGE_EXEC_REPORTING_HOST_H_
