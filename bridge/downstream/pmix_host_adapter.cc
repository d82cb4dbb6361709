#include "bridge/downstream/pmix_host_adapter.h"

#include <algorithm>
#include <climits>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/log.h"

namespace pmi_shim::downstream {

PmixHostAdapter::PmixHostAdapter(EventLoop& loop, session::JobHost& host, LocalModexSource& modex,
                                 Options options)
    : loop_(loop),
      host_(host),
      modex_(modex),
      options_(std::move(options)),
      exchange_(host, options_.exchange),
      connected_(host.info().size, false),
      finalized_(host.info().size, false),
      lost_(host.info().size, false),
      self_(std::make_shared<PmixHostAdapter*>(this)) {}

PmixHostAdapter::~PmixHostAdapter() { Stop(); }

void PmixHostAdapter::Stop() {
  stopped_ = true;
  for (auto& [id, fence] : pending_fences_) {
    if (fence.timer != 0) loop_.CancelTimer(fence.timer);
  }
  pending_fences_.clear();
}

bool PmixHostAdapter::Clean() const {
  for (size_t rank = 0; rank < connected_.size(); ++rank) {
    if (connected_[rank] && !finalized_[rank]) return false;
  }
  return true;
}

int PmixHostAdapter::LocalRank(const Proc& proc) const {
  if (proc.nspace != options_.nspace || proc.rank > static_cast<uint32_t>(INT32_MAX)) return -1;
  const int rank = static_cast<int>(proc.rank);
  return IsLocal(rank) ? rank : -1;
}

absl::Status PmixHostAdapter::ClientConnected(const Proc& proc) {
  const int local = LocalRank(proc);
  if (local < 0) {
    const std::string problem =
        absl::StrCat("a PMIx client connected as ", proc.nspace, ":", proc.rank,
                     ", which this server does not serve; check PMIX_NAMESPACE/PMIX_RANK");
    log::Error(problem);
    return absl::NotFoundError(problem);
  }
  absl::Status claimed = host_.ClaimRank(local);
  if (!claimed.ok()) {
    const std::string problem =
        absl::StrCat("rank ", local, ": PMIx client refused: ", claimed.message());
    log::Error(problem);
    return absl::PermissionDeniedError(problem);
  }
  connected_[local] = true;
  return absl::OkStatus();
}

void PmixHostAdapter::ClientFinalized(const Proc& proc) {
  const int local = LocalRank(proc);
  if (local < 0 || finalized_[local]) return;
  finalized_[local] = true;
  host_.Finalized(local);
}

bool PmixHostAdapter::RankExited(int rank, absl::string_view how) {
  if (!IsLocal(rank) || !connected_[rank] || finalized_[rank] || lost_[rank]) return false;
  lost_[rank] = true;
  host_.Lost(
      rank,
      absl::StrCat("rank ", rank, ": ", how,
                   " after PMIx_Init without PMIx_Finalize; the process exited or crashed before "
                   "MPI_Finalize"));
  return true;
}

void PmixHostAdapter::ClientAborted(const Proc& proc, int status, std::string message) {
  const int local = LocalRank(proc);
  host_.Abort(local < 0 ? 0 : local, status, std::move(message));
}

// Only whole-job fences map onto the host's job-wide barrier: the wildcard
// rank of our namespace, or every rank named.
bool PmixHostAdapter::WholeJob(const std::vector<Proc>& participants) const {
  if (participants.empty()) return false;
  std::vector<bool> named(connected_.size(), false);
  for (const Proc& proc : participants) {
    if (proc.nspace != options_.nspace) continue;
    if (proc.rank == kPmixWildcardRank) return true;
    if (proc.rank < named.size()) named[proc.rank] = true;
  }
  return std::all_of(named.begin(), named.end(), [](bool b) { return b; });
}

void PmixHostAdapter::Fence(const std::vector<Proc>& participants, bool collect, std::string blob,
                            BlobDone done) {
  ++stats_.fence_upcalls;
  if (!WholeJob(participants)) {
    const char* problem =
        "a PMIx client fenced over part of the job; pmi-shim only supports fences of the whole "
        "job";
    log::Error(problem);
    done(absl::UnimplementedError(problem));
    return;
  }
  const uint64_t id = next_fence_id_++;
  PendingFence& fence = pending_fences_[id];
  fence.blob = std::move(blob);
  fence.done = std::move(done);
  fence.collect = collect;
  if (collect) {
    RunFence(id);
    return;
  }
  // Without collection, other servers may later ask for our ranks' data
  // (direct_modex) and cannot reach libpmix here: publish it now. A rank
  // that never committed has none, and libpmix would answer only once it
  // commits, hence the wait limit.
  const std::vector<int>& ranks = options_.layout.ranks_of_node[options_.layout.local_node];
  fence.waiting = static_cast<int>(ranks.size());
  fence.timer = loop_.AddTimer(options_.direct_modex_wait, [self = std::weak_ptr(self_), id] {
    if (auto adapter = self.lock()) (*adapter)->GiveUpWaiting(id);
  });
  for (int rank : ranks) {
    modex_.RequestLocalModex(rank, [self = std::weak_ptr(self_), id, rank](std::string data) {
      if (auto adapter = self.lock()) (*adapter)->OnDirectBlob(id, rank, std::move(data));
    });
  }
}

void PmixHostAdapter::GiveUpWaiting(uint64_t fence_id) {
  auto it = pending_fences_.find(fence_id);
  if (stopped_ || it == pending_fences_.end() || it->second.waiting <= 0) return;
  log::Warning("a local PMIx client committed no data before a fence; publishing none for it");
  it->second.waiting = 0;
  it->second.timer = 0;
  RunFence(fence_id);
}

void PmixHostAdapter::OnDirectBlob(uint64_t fence_id, int rank, std::string blob) {
  auto it = pending_fences_.find(fence_id);
  if (it == pending_fences_.end() || it->second.waiting <= 0) return;  // late: already gave up
  PendingFence& fence = it->second;
  fence.direct.emplace_back(rank, std::move(blob));
  if (--fence.waiting > 0) return;
  if (fence.timer != 0) loop_.CancelTimer(fence.timer);
  fence.timer = 0;
  RunFence(fence_id);
}

void PmixHostAdapter::RunFence(uint64_t fence_id) {
  auto node = pending_fences_.extract(fence_id);
  if (node.empty()) return;
  PendingFence fence = std::move(node.mapped());
  ModexExchange::FenceInput input;
  input.collect = fence.collect;
  input.blob = std::move(fence.blob);
  input.direct = std::move(fence.direct);
  exchange_.Fence(std::move(input), [self = std::weak_ptr(self_), done = std::move(fence.done)](
                                        absl::StatusOr<std::string> result) {
    auto adapter = self.lock();
    if (adapter == nullptr || (*adapter)->stopped_) return;
    if (!result.ok()) log::Error(absl::StrCat("PMIx fence failed: ", result.status().message()));
    done(std::move(result));
  });
}

void PmixHostAdapter::DirectModex(const Proc& proc, BlobDone done) {
  ++stats_.direct_modex_upcalls;
  if (proc.nspace != options_.nspace || proc.rank >= connected_.size()) {
    done(absl::NotFoundError("unknown process"));
    return;
  }
  exchange_.DirectModex(
      static_cast<int>(proc.rank),
      [self = std::weak_ptr(self_), done = std::move(done)](absl::StatusOr<std::string> blob) {
        auto adapter = self.lock();
        if (adapter == nullptr || (*adapter)->stopped_) return;
        done(std::move(blob));
      });
}

}  // namespace pmi_shim::downstream
