// DeferredHost: a JobHost whose real host is connected only when a client
// first needs it.
//
// Under a PMIx launcher `pmi-bridge exec` publishes a PMI socket (pmi.sock)
// next to the PMIx relay (pmix.sock), and the container's pmi-shim-client
// takes whichever its program's library speaks. Serving pmi.sock means
// joining the job as a PMIx client of the launcher (PmixClientHost), which
// must not happen when the program itself speaks PMIx through the relay:
// the launcher would then see two clients claim one rank. So the PMI server
// stands on this host, and the first client accepted on pmi.sock calls
// Ensure(), which connects the real host once.
//
// Until Ensure() has succeeded every call fails (FailedPrecondition) and
// info() returns a one-rank placeholder; PmiServer calls Ensure() before it
// serves a client (ServerOptions::before_serving), so no session sees that.
#ifndef PMI_SHIM_BRIDGE_EXEC_DEFERRED_HOST_H_
#define PMI_SHIM_BRIDGE_EXEC_DEFERRED_HOST_H_

#include <functional>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "bridge/session/job_host.h"

namespace pmi_shim::exec {

class DeferredHost : public session::JobHost {
 public:
  // Connects the real host and returns it (owned by the caller, alive as
  // long as this object is used).
  using Connect = std::function<absl::StatusOr<session::JobHost*>()>;

  explicit DeferredHost(Connect connect) : connect_(std::move(connect)) {}

  // Connects on the first call; later calls return the first call's result
  // (a host that could not be reached is not retried for every client).
  absl::Status Ensure();
  bool connected() const { return inner_ != nullptr; }

  const session::JobInfo& info() const override;
  absl::Status ClaimRank(int rank) override;
  void ReleaseRank(int rank) override;
  void Put(int rank, std::string key, std::string value, Done done) override;
  void Get(int rank, std::string key, GetDone done) override;
  void Barrier(int rank, Done done) override;
  void PutNodeAttr(int rank, std::string key, std::string value, Done done) override;
  void GetNodeAttr(int rank, std::string key, bool wait, GetDone done) override;
  void Abort(int rank, int exit_code, std::string message) override;
  void Finalized(int rank) override;
  void Lost(int rank, std::string reason) override;
  bool Idle() const override;

 private:
  absl::Status NotConnected() const;

  Connect connect_;
  std::optional<absl::Status> outcome_;
  session::JobHost* inner_ = nullptr;
  session::JobInfo placeholder_;
};

}  // namespace pmi_shim::exec

#endif  // PMI_SHIM_BRIDGE_EXEC_DEFERRED_HOST_H_
