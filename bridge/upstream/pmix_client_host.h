// PmixClientHost: the job as seen through a real PMIx server, for one rank.
//
// This is the "PMIx server" row of the translation matrix for PMI-1/PMI-2
// clients: under mpirun (Open MPI/PRRTE) or `srun --mpi=pmix`, `pmi-bridge
// exec` is itself a PMIx client (libpmix) of the launcher and serves its one
// rank's PMI-1 or PMI-2 client downstream through a ServerSession.
//
//   EventLoop loop;
//   absl::StatusOr<std::unique_ptr<PmixClientHost>> host = PmixClientHost::Connect(
//       loop, {.on_upstream_lost = [&](const std::string& why) { EndJob(why); }});
//   if (!host.ok()) Fail(host.status());      // one line, e.g. no PMIx env
//   auto session = ServerSession::Create(**host, {.rank = (*host)->rank()}, ...);
//
// How PMI maps onto PMIx (after OpenPMIx's own PMI-1/PMI-2 libraries, see
// reference/protocols.md §4.8, with their gaps fixed):
//   info()          nspace, PMIX_JOB_SIZE, PMIX_UNIV_SIZE (never below the
//                   size: oversubscribed Open MPI reports its slot count),
//                   PMIX_APPNUM, PMI_process_mapping (PMIX_ANL_MAP, else
//                   built from the node layout; plain 3-tuples; absent if it
//                   cannot be known or is longer than vallen_max, as Hydra
//                   and Flux do)
//   Put             PMIx_Put(PMIX_GLOBAL), keys renamed by ToPmixKey
//   Barrier         PMIx_Commit + PMIx_Fence_nb(PMIX_COLLECT_DATA): a PMI-1
//                   client never commits on the wire, so every barrier does
//   Get             own keys from memory; others from the rank that put them,
//                   found through the key directories (pmix_value_codec.h),
//                   with PMIX_IMMEDIATE so a missing key never blocks.
//                   Values are returned whole, even beyond vallen_max (PMIx
//                   values have no such limit; PMI clients only put values
//                   within it, so in practice this never happens)
//   PutNodeAttr     PMIx_Put(PMIX_LOCAL) + PMIx_Commit: visible to the other
//                   ranks of the node at once, without a fence
//   GetNodeAttr     asks each local peer (PMIX_LOCAL_PEERS); with `wait`, asks
//                   again every `node_attr_poll` until one has put it (PMIx
//                   has no "wait for any rank's key"), for as long as the job
//                   lives
//   Abort, Lost     PMIx_Abort(code, message) for the whole namespace, on a
//                   short-lived thread since it blocks until the server acts
//                   (the destructor waits for it: the abort must get out)
//   Finalized       PMIx_Finalize, on the loop (a short wait for the server)
//
// Visibility. As with Slurm, other ranks' keys are visible only after the
// barrier that follows their put; before it a get answers NotFound at once.
//
// Threading. All members must be called on the loop's thread. libpmix calls
// back on its own progress thread; those callbacks only copy their results
// and EventLoop::Post them, so host state is only touched on the loop.
// The loop must outlive the host.
//
// Upstream loss. When the PMIx server goes away (a lost-connection event, or
// an operation failing with PMIX_ERR_LOST_CONNECTION/UNREACH), every pending
// callback fails with Unavailable and Options::on_upstream_lost runs once,
// posted to the loop. Later operations fail with Unavailable at once.
//
// One per process: libpmix holds a single connection per process.
//
// For the owner: once the launcher is gone, its stdout/stderr pipes are too;
// ignore SIGPIPE so that reporting the loss does not kill the process.
// mpirun.openmpi 4.1.4 itself may crash (SIGSEGV in PMIx_server_finalize) or
// hang when a rank aborts while other ranks wait in a fence; that is the
// launcher's bug, reproduced with a plain libpmix client.
#ifndef PMI_SHIM_BRIDGE_UPSTREAM_PMIX_CLIENT_HOST_H_
#define PMI_SHIM_BRIDGE_UPSTREAM_PMIX_CLIENT_HOST_H_

#include <pmix.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "bridge/session/job_host.h"
#include "common/event_loop.h"

namespace pmi_shim::upstream {

class PmixClientHost : public session::JobHost {
 public:
  struct Options {
    // The PMIx server is gone; the job cannot go on. Runs once, on the loop.
    std::function<void(const std::string& reason)> on_upstream_lost;
    // How often a waiting node-attribute get asks the local peers again.
    absl::Duration node_attr_poll = absl::Milliseconds(10);
  };

  // Connects to the PMIx server named by this process's environment
  // (PMIX_NAMESPACE, PMIX_RANK, PMIX_SERVER_URI*) and reads the job's facts.
  // FailedPrecondition (one line saying what to do) without that environment
  // or when another PmixClientHost is alive in this process; Unavailable if
  // the server cannot be reached; Internal if it gives no job size.
  static absl::StatusOr<std::unique_ptr<PmixClientHost>> Connect(EventLoop& loop, Options options);

  // Finalizes the PMIx connection unless Finalized() already did, after
  // waiting for an abort in progress to be delivered.
  ~PmixClientHost() override;

  PmixClientHost(const PmixClientHost&) = delete;
  PmixClientHost& operator=(const PmixClientHost&) = delete;

  // This process's rank: the only rank ClaimRank accepts.
  int rank() const { return rank_; }
  bool upstream_lost() const { return lost_reason_.has_value(); }

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

 private:
  struct Request;  // one libpmix call in flight (pmix_client_host.cc)
  class Registry;  // the requests libpmix may still call back
  using Reply = std::function<void(absl::StatusOr<std::string>)>;
  using Replies = std::vector<absl::StatusOr<std::string>>;

  PmixClientHost(EventLoop& loop, Options options, const pmix_proc_t& me);

  // Connect's steps after PMIx_Init.
  absl::Status LoadJobInfo();
  std::optional<std::string> DiscoverProcessMapping();
  std::optional<std::vector<int>> NodesFromResolve() const;
  std::optional<std::vector<int>> NodesFromNodeIds() const;
  absl::Status RegisterLossHandler();

  // Whether `rank` may use the connection now: Unavailable once lost.
  absl::Status CheckUsable(int rank) const;
  // PMIx_Put of a string value; a failure that means loss is reported.
  absl::Status PutString(pmix_scope_t scope, const std::string& pmix_key, const std::string& value);
  absl::Status PutKeyDirectory();
  absl::Status Commit();

  // Non-blocking PMIx_Get of `pmix_key` from `rank` with PMIX_IMMEDIATE;
  // `reply` runs on the loop with the value as a string.
  void GetFrom(int rank, const std::string& pmix_key, Reply reply);
  // The same from several ranks; `done` gets the answers in `ranks` order.
  void GetFromEach(const std::vector<int>& ranks, const std::string& pmix_key,
                   std::function<void(Replies)> done);
  void OnFenced(absl::Status status, Done done);
  void OnKeyDirectories(const std::vector<int>& ranks, Replies directories, Done done);
  void PollNodeAttr(uint64_t wait_id);
  void OnNodeAttrReplies(uint64_t wait_id, Replies replies);
  std::vector<int> NodePeers() const;
  void StartAbort(int exit_code, std::string message);

  // A request for libpmix whose answer goes to `reply`.
  Request* NewRequest(std::string what, Reply reply);
  // Completes a request that libpmix refused synchronously.
  void FailRequest(Request* request, pmix_status_t rc);
  // Runs and forgets the reply of request `id` (nothing if already failed).
  void Complete(uint64_t id, absl::StatusOr<std::string> result);
  // Records the loss once and posts HandleLost.
  void ReportLost(absl::string_view reason);
  void HandleLost(const std::string& reason);
  // Deregisters, finalizes libpmix (idempotent); no callbacks arrive after.
  void Shutdown();

  // libpmix callbacks; they run on its progress thread.
  static void OnOpDone(pmix_status_t status, void* cbdata);
  static void OnValue(pmix_status_t status, pmix_value_t* value, void* cbdata);
  static void OnLossEvent(size_t handler_id, pmix_status_t status, const pmix_proc_t* source,
                          pmix_info_t info[], size_t ninfo, pmix_info_t results[], size_t nresults,
                          pmix_event_notification_cbfunc_fn_t cbfunc, void* cbdata);
  static void Deliver(Request& request, absl::StatusOr<std::string> result);

  EventLoop& loop_;
  Options options_;
  pmix_proc_t me_;
  int rank_ = 0;
  session::JobInfo info_;
  std::vector<int> local_peers_;

  // Posted tasks hold a weak reference, so they do nothing once the host
  // is gone.
  std::shared_ptr<PmixClientHost*> self_;
  std::unique_ptr<Registry> registry_;
  bool initialized_ = false;  // PMIx_Init succeeded and Finalize is due
  bool loss_handler_registered_ = false;
  size_t loss_handler_id_ = 0;

  bool claimed_ = false;
  bool barrier_active_ = false;
  bool aborting_ = false;
  std::optional<std::string> lost_reason_;
  std::thread abort_thread_;

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
  struct NodeAttrWait {
    std::string key;
    bool wait = false;
    GetDone done;
    EventLoop::TimerId timer = 0;
  };
  absl::flat_hash_map<uint64_t, NodeAttrWait> node_attr_waits_;
};

}  // namespace pmi_shim::upstream

#endif  // PMI_SHIM_BRIDGE_UPSTREAM_PMIX_CLIENT_HOST_H_
