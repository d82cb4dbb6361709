// PmiOverPmix: PMI-1/PMI-2 KVS semantics for one rank on top of a PMIx
// client: puts, the key-directory barrier, gets routed to the rank that put
// the key, node attributes polled from the local peers, and what happens
// when the PMIx server is lost. No libpmix here: it talks to a
// PmixClientPort, which is libpmix in PmixClientHost and a fake in tests.
//
//   PmiOverPmix pmi(loop, port, {.rank = 1, .size = 4, ...});
//   pmi.Put("bc-1", card, done);        // PMIx_Put(PMIX_GLOBAL, "bc-1")
//   pmi.Barrier(done);                   // directory put, commit, fence, read
//   pmi.Get("bc-3", got);                // PMIx get of "bc-3" from rank 3
//
// Key directory. A PMIx get must name the rank that put a key (with PMIx
// 4.2.2's shared-memory data store a get with PMIX_RANK_UNDEF finds nothing
// another process put, even after a collecting fence). So at every barrier
// each rank also puts the list of keys it put since the previous one
// (pmix_value_codec.h, KeyDirectoryKey), and after the fence reads every
// other rank's list to learn who owns which key; within one barrier the
// lowest rank that put a key owns it, the same choice on every bridge. A
// rank that published no list fails the barrier: every rank of the job must
// run through pmi-bridge.
//
// Visibility. As with Slurm, other ranks' keys are visible only after the
// barrier that follows their put; before it a get answers NotFound at once
// (MPICH's "-NONEXIST-KEY" probe included). A rank's own keys are answered
// from memory.
//
// Node attributes. Put with node scope and committed at once, so local
// peers see them without a fence. PMIx cannot wait for "any rank's" key
// (a get without PMIX_IMMEDIATE blocks until that one rank puts it), so a
// get asks every local peer with PMIX_IMMEDIATE and, with `wait`, asks again
// every `node_attr_poll` for as long as the job lives.
//
// Loss. When an operation fails with Unavailable, or the owner calls
// ReportLost (libpmix's connection-loss event), every pending callback fails
// with Unavailable, later operations fail at once, and `on_lost` runs once,
// posted to the loop. Late answers are dropped.
//
// Loop thread only; the loop and the port must outlive this object.
#ifndef PMI_SHIM_BRIDGE_UPSTREAM_PMI_OVER_PMIX_H_
#define PMI_SHIM_BRIDGE_UPSTREAM_PMI_OVER_PMIX_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "bridge/upstream/pmix_client_port.h"
#include "common/event_loop.h"

namespace pmi_shim::upstream {

class PmiOverPmix {
 public:
  using Done = std::function<void(absl::Status)>;
  using GetDone = std::function<void(absl::StatusOr<std::string>)>;

  struct Options {
    int rank = 0;
    int size = 1;
    // PMIX_LOCAL_PEERS (this rank included); empty: unknown, ask every rank.
    std::vector<int> local_peers;
    // Answered for "PMI_process_mapping" without asking PMIx.
    std::optional<std::string> process_mapping;
    absl::Duration node_attr_poll = absl::Milliseconds(10);
    // The PMIx server is gone. Runs once, on the loop.
    std::function<void(const std::string& reason)> on_lost;
  };

  PmiOverPmix(EventLoop& loop, PmixClientPort& port, Options options);
  ~PmiOverPmix();  // pending callbacks never run
  PmiOverPmix(const PmiOverPmix&) = delete;
  PmiOverPmix& operator=(const PmiOverPmix&) = delete;

  // The JobHost operations for this rank (see job_host.h). Unavailable
  // once lost, FailedPrecondition once finalized.
  void Put(std::string key, std::string value, Done done);
  void Get(std::string key, GetDone done);
  void Barrier(Done done);
  void PutNodeAttr(std::string key, std::string value, Done done);
  void GetNodeAttr(std::string key, bool wait, GetDone done);

  // The connection is gone (`reason` names the cause, e.g. a PMIx event).
  void ReportLost(absl::string_view reason);
  // The PMIx connection was finalized: later operations fail.
  void MarkFinalized() { finalized_ = true; }
  bool lost() const { return lost_reason_.has_value(); }

 private:
  using Reply = std::function<void(absl::StatusOr<std::string>)>;
  using Replies = std::vector<absl::StatusOr<std::string>>;
  struct NodeAttrWait {
    std::string key;
    bool wait = false;
    GetDone done;
    EventLoop::TimerId timer = 0;
  };

  absl::Status CheckUsable() const;
  // A port result that means loss is reported as such.
  absl::Status Checked(absl::Status status);
  absl::Status PutKeyDirectory();
  // Port calls whose answers loss can cut short.
  Reply Track(Reply reply);
  void Complete(uint64_t id, absl::StatusOr<std::string> result);
  void GetFromEach(const std::vector<int>& ranks, const std::string& pmix_key,
                   std::function<void(Replies)> done);
  void OnFenced(absl::Status status, Done done);
  void OnKeyDirectories(const std::vector<int>& ranks, Replies directories, Done done);
  std::vector<int> NodePeers() const;
  void PollNodeAttr(uint64_t wait_id);
  void OnNodeAttrReplies(uint64_t wait_id, Replies replies);
  void HandleLost(const std::string& reason);

  EventLoop& loop_;
  PmixClientPort& port_;
  const Options options_;
  // Posted tasks and port answers hold a weak reference: no-ops once gone.
  std::shared_ptr<PmiOverPmix*> self_;

  bool barrier_active_ = false;
  bool finalized_ = false;
  std::optional<std::string> lost_reason_;
  // This rank's own puts (PMI answers a rank's own keys before a barrier).
  absl::flat_hash_map<std::string, std::string> own_kvs_;
  absl::flat_hash_map<std::string, std::string> own_node_attrs_;
  // Keys put since the last barrier, published at the next one; ordered so
  // the directory is deterministic.
  std::set<std::string> epoch_keys_;
  // Which rank put each key, from the directories read after each barrier.
  absl::flat_hash_map<std::string, int> key_owner_;
  int epoch_ = 0;

  uint64_t next_id_ = 1;
  absl::flat_hash_map<uint64_t, Reply> pending_;
  absl::flat_hash_map<uint64_t, NodeAttrWait> node_attr_waits_;
};

}  // namespace pmi_shim::upstream

#endif  // PMI_SHIM_BRIDGE_UPSTREAM_PMI_OVER_PMIX_H_
