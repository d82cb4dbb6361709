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

#include "bridge/session/job_host.h"

namespace pmi_shim::exec {

class ReportingHost : public session::JobHost {
 public:
  explicit ReportingHost(session::JobHost& inner) : inner_(inner) {}

  const session::JobInfo& info() const override { return inner_.info(); }
  absl::Status ClaimRank(int rank) override { return inner_.ClaimRank(rank); }
  void ReleaseRank(int rank) override { inner_.ReleaseRank(rank); }
  void Put(int rank, std::string key, std::string value, Done done) override {
    inner_.Put(rank, std::move(key), std::move(value), std::move(done));
  }
  void Get(int rank, std::string key, GetDone done) override {
    inner_.Get(rank, std::move(key), std::move(done));
  }
  void Barrier(int rank, Done done) override { inner_.Barrier(rank, std::move(done)); }
  void PutNodeAttr(int rank, std::string key, std::string value, Done done) override {
    inner_.PutNodeAttr(rank, std::move(key), std::move(value), std::move(done));
  }
  void GetNodeAttr(int rank, std::string key, bool wait, GetDone done) override {
    inner_.GetNodeAttr(rank, std::move(key), wait, std::move(done));
  }
  void Finalized(int rank) override { inner_.Finalized(rank); }
  bool Idle() const override { return inner_.Idle(); }

  // Logged, then forwarded.
  void Abort(int rank, int exit_code, std::string message) override;
  void Lost(int rank, std::string reason) override;

  // The bridge itself is ending the rank (and said why): a lost client is
  // then its doing, not news.
  void Quiet() { quiet_ = true; }

 private:
  session::JobHost& inner_;
  bool quiet_ = false;
};

}  // namespace pmi_shim::exec

#endif  // PMI_SHIM_BRIDGE_EXEC_REPORTING_HOST_H_
