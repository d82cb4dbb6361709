// NodeHost: the job as a node's PMIx server sees it. The server process
// has no connection to the launcher: each rank's PMI_FD belongs to that
// rank's `pmi-bridge exec`, so every operation on the job is carried out by
// a bridge of this node, on the server's request (node_protocol.h):
//
//   Barrier(rank)            -> rank's bridge enters the host barrier
//   Put/Get(rank, ...)       -> rank's bridge, or any bridge still here once
//                               it left (the host's KVS is job-wide)
//   Finalized/Abort/Lost     -> told to rank's bridge, which tells the host
//   ClaimRank/ReleaseRank    -> kept here (a client may connect once), the
//                               bridge is told its client spoke
//
// So the node's work happens once per node: libpmix hands one fence blob
// for all local clients, and ModexExchange (modex_codec.h) puts it through
// one bridge and reads each other node's blob once, while every local rank
// still enters the host barrier through its own connection, as PMI wants.
//
// Pure: a MemberLink per bridge carries the messages; unit tests use fakes.
// Loop thread only.
#ifndef PMI_SHIM_BRIDGE_NODE_NODE_HOST_H_
#define PMI_SHIM_BRIDGE_NODE_NODE_HOST_H_

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "bridge/node/node_protocol.h"
#include "bridge/session/job_host.h"

namespace pmi_shim::node {

// One bridge's end of the control connection, as the server writes to it.
class MemberLink {
 public:
  virtual ~MemberLink() = default;
  virtual void Send(const Message& message) = 0;
};

class NodeHost : public session::JobHost {
 public:
  struct Stats {
    int puts = 0;
    int gets = 0;
    int barriers = 0;
  };

  // `local_ranks`: the ranks whose bridges may join.
  NodeHost(session::JobInfo job, std::vector<int> local_ranks);
  ~NodeHost() override;

  // A bridge joined as `rank` (a local rank; the link outlives Detach).
  void Attach(int rank, MemberLink* link);
  // The bridge left or was lost: its calls in flight fail (Unavailable).
  void Detach(int rank);
  bool Attached(int rank) const { return links_.count(rank) != 0; }
  int attached_count() const { return static_cast<int>(links_.size()); }
  // A reply from `rank`'s bridge. DataLoss for an id it was not asked.
  absl::Status OnReply(int rank, const Reply& reply);

  const session::JobInfo& info() const override { return job_; }
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

  const Stats& stats() const { return stats_; }

 private:
  struct Pending {
    int rank = 0;  // whose bridge carries it
    std::function<void(absl::StatusOr<std::string>)> done;
  };
  // `rank`'s link, else (when `any` and it left) the lowest one attached.
  MemberLink* LinkFor(int rank, bool any, int* carrier) const;
  void Start(int rank, bool any, Call call, std::function<void(absl::StatusOr<std::string>)> done);
  void Tell(int rank, const Notice& notice);

  session::JobInfo job_;
  std::vector<int> local_ranks_;
  std::map<int, MemberLink*> links_;
  absl::flat_hash_map<int, bool> claimed_;
  absl::flat_hash_map<uint64_t, Pending> pending_;
  uint64_t next_id_ = 1;
  int losses_without_bridge_ = 0;
  Stats stats_;
};

}  // namespace pmi_shim::node

#endif  // PMI_SHIM_BRIDGE_NODE_NODE_HOST_H_
