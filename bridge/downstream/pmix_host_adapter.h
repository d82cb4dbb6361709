// PmixHostAdapter: what PmixServer does with libpmix's upcalls, without
// libpmix. It keeps each local rank's state (connected, finalized, lost),
// maps the upcalls onto a session::JobHost and runs job-wide fences and
// direct-modex requests through a ModexExchange (modex_codec.h):
//
//   client_connected   -> ClientConnected  -> JobHost::ClaimRank
//   client_finalized   -> ClientFinalized  -> JobHost::Finalized
//   (the owner saw the rank's process end) RankExited -> JobHost::Lost
//   abort              -> ClientAborted    -> JobHost::Abort
//   fence_nb           -> Fence: whole-job fences only; a collecting one
//                         shares its blob, a non-collecting one first asks
//                         libpmix for each local rank's committed data
//                         (LocalModexSource) and publishes it for the other
//                         servers' direct_modex
//   direct_modex       -> DirectModex: the rank's published blob
//
// The libpmix side (PmixServer::Core) copies each upcall's arguments into
// plain types, calls these on the loop's thread and hands the results back
// to libpmix; unit tests drive them with a fake LocalModexSource.
//
// Loop thread only. The loop, the host and the source must outlive the
// adapter; after Stop (or destruction) no callback given to it runs.
#ifndef PMI_SHIM_BRIDGE_DOWNSTREAM_PMIX_HOST_ADAPTER_H_
#define PMI_SHIM_BRIDGE_DOWNSTREAM_PMIX_HOST_ADAPTER_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "bridge/downstream/modex_codec.h"
#include "bridge/downstream/pmix_layout.h"
#include "bridge/session/job_host.h"
#include "common/event_loop.h"

namespace pmi_shim::downstream {

// PMIX_RANK_WILDCARD, which pmix_server.cc checks against libpmix's value.
inline constexpr uint32_t kPmixWildcardRank = UINT32_MAX - 1;

// The data libpmix holds for a local client: PMIx_server_dmodex_request.
class LocalModexSource {
 public:
  virtual ~LocalModexSource() = default;
  // `done` gets what local rank `rank` committed, "" if nothing or the
  // request failed; on the loop's thread, possibly before this returns,
  // possibly never (a client that never commits: libpmix answers only once
  // it does).
  virtual void RequestLocalModex(int rank, std::function<void(std::string)> done) = 0;
};

class PmixHostAdapter {
 public:
  using BlobDone = std::function<void(absl::StatusOr<std::string>)>;

  struct Options {
    std::string nspace;  // the one namespace this server registered
    Layout layout;
    ModexExchange::Options exchange;
    // How long a non-collecting fence waits for a local rank's data.
    absl::Duration direct_modex_wait = absl::Seconds(2);
  };

  // A PMIx process as an upcall names it.
  struct Proc {
    std::string nspace;
    uint32_t rank = 0;  // or kPmixWildcardRank
  };

  struct Stats {
    int fence_upcalls = 0;
    int direct_modex_upcalls = 0;
  };

  PmixHostAdapter(EventLoop& loop, session::JobHost& host, LocalModexSource& modex,
                  Options options);
  ~PmixHostAdapter();
  PmixHostAdapter(const PmixHostAdapter&) = delete;
  PmixHostAdapter& operator=(const PmixHostAdapter&) = delete;

  // NotFound (and one error line) for a process this server does not serve;
  // PermissionDenied if the host refuses the rank (claimed twice).
  absl::Status ClientConnected(const Proc& proc);
  void ClientFinalized(const Proc& proc);
  // See PmixServer::RankExited.
  bool RankExited(int rank, absl::string_view how);
  // A foreign process aborts as rank 0.
  void ClientAborted(const Proc& proc, int status, std::string message);

  // One fence_nb: `participants` as libpmix listed them, `collect` from
  // PMIX_COLLECT_DATA, `blob` this server's contribution. `done` gets the
  // data for libpmix's modex cbfunc; Unimplemented for a fence over part of
  // the job.
  void Fence(const std::vector<Proc>& participants, bool collect, std::string blob, BlobDone done);
  // One direct_modex: NotFound for an unknown process.
  void DirectModex(const Proc& proc, BlobDone done);

  // Drops pending fences and their timers; later upcalls do nothing useful.
  void Stop();

  bool Connected(int rank) const { return InJob(rank) && connected_[rank]; }
  bool Finalized(int rank) const { return InJob(rank) && finalized_[rank]; }
  // Whether every client that connected also finalized.
  bool Clean() const;
  bool IsLocal(int rank) const {
    return InJob(rank) && options_.layout.node_of_rank[rank] == options_.layout.local_node;
  }
  const Stats& stats() const { return stats_; }

 private:
  struct PendingFence {
    bool collect = false;
    std::string blob;
    BlobDone done;
    std::vector<std::pair<int, std::string>> direct;
    int waiting = 0;  // direct-modex blobs libpmix still owes us
    EventLoop::TimerId timer = 0;
  };

  bool InJob(int rank) const { return rank >= 0 && rank < static_cast<int>(connected_.size()); }
  // The rank `proc` names, or -1 when it is not a local rank of ours.
  int LocalRank(const Proc& proc) const;
  bool WholeJob(const std::vector<Proc>& participants) const;
  void OnDirectBlob(uint64_t fence_id, int rank, std::string blob);
  void GiveUpWaiting(uint64_t fence_id);
  void RunFence(uint64_t fence_id);

  EventLoop& loop_;
  session::JobHost& host_;
  LocalModexSource& modex_;
  const Options options_;
  ModexExchange exchange_;
  std::vector<bool> connected_;
  std::vector<bool> finalized_;
  std::vector<bool> lost_;
  absl::flat_hash_map<uint64_t, PendingFence> pending_fences_;
  uint64_t next_fence_id_ = 1;
  Stats stats_;
  bool stopped_ = false;
  // Callbacks handed out hold a weak reference: no-ops once this is gone.
  std::shared_ptr<PmixHostAdapter*> self_;
};

}  // namespace pmi_shim::downstream

#endif  // PMI_SHIM_BRIDGE_DOWNSTREAM_PMIX_HOST_ADAPTER_H_
