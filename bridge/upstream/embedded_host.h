// EmbeddedHost: the job of `pmi-bridge launch`, kept entirely in memory.
//
// This is the "none: embedded" row of the translation matrix: with no real
// process manager above it, the bridge itself is the PMI server. It holds
// the job's KVS and node attributes, runs the job-wide barrier (PMI-1
// barrier_in and PMI-2 kvs-fence both complete when all `size` ranks
// entered), and hands aborts and lost clients to its owner, who ends the job.
//
// Puts are visible to gets at once (as Hydra shows same-node puts early);
// fences therefore never need to hold back a get, and a get of a missing key
// (MPICH's "-NONEXIST-KEY" barrier idiom) is answered not-found immediately.
#ifndef PMI_SHIM_BRIDGE_UPSTREAM_EMBEDDED_HOST_H_
#define PMI_SHIM_BRIDGE_UPSTREAM_EMBEDDED_HOST_H_

#include <functional>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "bridge/session/job_host.h"

namespace pmi_shim::upstream {

class EmbeddedHost : public session::JobHost {
 public:
  struct Events {
    // A rank asked to abort the job.
    std::function<void(int rank, int exit_code, const std::string& message)> abort;
    // A rank's PMI connection failed before it finalized; the job must end.
    std::function<void(int rank, const std::string& reason)> lost;
  };

  EmbeddedHost(session::JobInfo info, Events events);

  const session::JobInfo& info() const override { return info_; }
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

  // How many ranks wait in the current barrier, and whether `rank` is one.
  int ranks_in_barrier() const { return barrier_waiters_.size(); }
  bool InBarrier(int rank) const { return in_barrier_[rank]; }
  bool IsFinalized(int rank) const { return finalized_[rank]; }
  // Completed barriers so far (fence epochs).
  int barrier_epoch() const { return barrier_epoch_; }

 private:
  session::JobInfo info_;
  Events events_;
  absl::flat_hash_map<std::string, std::string> kvs_;
  absl::flat_hash_map<std::string, std::string> node_attrs_;
  absl::flat_hash_map<std::string, std::vector<GetDone>> node_attr_waiters_;
  std::vector<bool> claimed_;
  std::vector<bool> finalized_;
  std::vector<bool> in_barrier_;
  std::vector<Done> barrier_waiters_;
  int barrier_epoch_ = 0;
};

}  // namespace pmi_shim::upstream

#endif  // PMI_SHIM_BRIDGE_UPSTREAM_EMBEDDED_HOST_H_
