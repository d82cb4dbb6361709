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
//   Put, Get, Barrier, PutNodeAttr, GetNodeAttr
//                   PmiOverPmix (pmi_over_pmix.h): PMIx_Put, PMIx_Commit +
//                   PMIx_Fence_nb(PMIX_COLLECT_DATA) with key directories,
//                   PMIx_Get_nb(PMIX_IMMEDIATE) from the rank that put the
//                   key, node attributes polled from the local peers
//   Abort, Lost     PMIx_Abort(code, message) for the whole namespace, on a
//                   short-lived thread since it blocks until the server acts
//                   (the destructor waits for it: the abort must get out)
//   Finalized       PMIx_Finalize, on the loop (a short wait for the server)
//
// This file is the libpmix side only: connecting, reading the job's facts,
// the connection-loss event, abort and finalize, and LibpmixPort, the
// PmixClientPort that PmiOverPmix runs on (calls in flight are held by a
// pmix::PendingCalls, answers reach the loop through it).
//
// Threading. All members must be called on the loop's thread. libpmix calls
// back on its own progress thread; those callbacks only copy their results
// and post them to the loop, so host state is only touched on the loop.
// The loop must outlive the host.
//
// Upstream loss. When the PMIx server goes away (a lost-connection event, or
// an operation failing with PMIX_ERR_LOST_CONNECTION/UNREACH), every pending
// callback fails with Unavailable and Options::on_upstream_lost runs once,
// posted to the loop. Later operations fail with Unavailable at once.
//
// One per process: libpmix holds a single connection per process
// (pmix::ProcessRole).
//
// For the owner: once the launcher is gone, its stdout/stderr pipes are too;
// ignore SIGPIPE so that reporting the loss does not kill the process.
// mpirun.openmpi 4.1.4 itself may crash (SIGSEGV in PMIx_server_finalize) or
// hang when a rank aborts while other ranks wait in a fence; that is the
// launcher's bug, reproduced with a plain libpmix client.
#ifndef PMI_SHIM_BRIDGE_UPSTREAM_PMIX_CLIENT_HOST_H_
#define PMI_SHIM_BRIDGE_UPSTREAM_PMIX_CLIENT_HOST_H_

#include <pmix.h>

#include <cstddef>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "bridge/pmix/loop_handoff.h"
#include "bridge/session/job_host.h"
#include "bridge/upstream/pmi_over_pmix.h"
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
  class LibpmixPort;  // PmixClientPort over libpmix (pmix_client_host.cc)

  PmixClientHost(EventLoop& loop, Options options, const pmix_proc_t& me);

  // Connect's steps after PMIx_Init.
  absl::Status LoadJobInfo();
  std::optional<std::string> DiscoverProcessMapping();
  std::optional<std::vector<int>> NodesFromResolve() const;
  std::optional<std::vector<int>> NodesFromNodeIds() const;
  absl::Status RegisterLossHandler();

  // InvalidArgument unless `rank` is this process's rank.
  absl::Status CheckRank(int rank) const;
  void StartAbort(int exit_code, std::string message);
  // Deregisters, finalizes libpmix (idempotent); no callbacks arrive after.
  void Shutdown();

  // libpmix's connection-loss event handler (progress thread).
  static void OnLossEvent(size_t handler_id, pmix_status_t status, const pmix_proc_t* source,
                          pmix_info_t info[], size_t ninfo, pmix_info_t results[], size_t nresults,
                          pmix_event_notification_cbfunc_fn_t cbfunc, void* cbdata);

  EventLoop& loop_;
  Options options_;
  pmix_proc_t me_;
  int rank_ = 0;
  session::JobInfo info_;
  std::vector<int> local_peers_;

  // How libpmix's thread (loss events, the abort thread) reaches this host.
  pmix::LoopHandoff<PmixClientHost> handoff_;
  std::unique_ptr<LibpmixPort> port_;
  std::unique_ptr<PmiOverPmix> pmi_;  // from LoadJobInfo on
  bool initialized_ = false;          // PMIx_Init succeeded and Finalize is due
  bool loss_handler_registered_ = false;
  size_t loss_handler_id_ = 0;

  bool claimed_ = false;
  bool aborting_ = false;
  std::thread abort_thread_;
};

}  // namespace pmi_shim::upstream

#endif  // PMI_SHIM_BRIDGE_UPSTREAM_PMIX_CLIENT_HOST_H_
