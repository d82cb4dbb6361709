// ForwardingHost: a JobHost that passes every call to another. Decorators
// (the bridge's abort reporter, its fence-time collector, test probes)
// derive from it and override only what they change.
#ifndef PMI_SHIM_BRIDGE_SESSION_FORWARDING_HOST_H_
#define PMI_SHIM_BRIDGE_SESSION_FORWARDING_HOST_H_

#include <string>
#include <utility>

#include "bridge/session/job_host.h"

namespace pmi_shim::session {

class ForwardingHost : public JobHost {
 public:
  explicit ForwardingHost(JobHost& inner) : inner_(inner) {}

  const JobInfo& info() const override { return inner_.info(); }
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
  void Abort(int rank, int exit_code, std::string message) override {
    inner_.Abort(rank, exit_code, std::move(message));
  }
  void Finalized(int rank) override { inner_.Finalized(rank); }
  void Lost(int rank, std::string reason) override { inner_.Lost(rank, std::move(reason)); }
  bool Idle() const override { return inner_.Idle(); }

 protected:
  JobHost& inner() { return inner_; }

 private:
  JobHost& inner_;
};

}  // namespace pmi_shim::session

#endif  // PMI_SHIM_BRIDGE_SESSION_FORWARDING_HOST_H_
