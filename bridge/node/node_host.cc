#include "bridge/node/node_host.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/log.h"

namespace pmi_shim::node {

NodeHost::NodeHost(session::JobInfo job, std::vector<int> local_ranks)
    : job_(std::move(job)), local_ranks_(std::move(local_ranks)) {}

NodeHost::~NodeHost() {
  // Nobody may be left waiting on a call that can no longer be answered.
  auto pending = std::move(pending_);
  for (auto& [id, call] : pending) call.done(absl::CancelledError("the node server stopped"));
}

void NodeHost::Attach(int rank, MemberLink* link) { links_[rank] = link; }

void NodeHost::Detach(int rank) {
  links_.erase(rank);
  std::vector<uint64_t> orphans;
  for (const auto& [id, call] : pending_) {
    if (call.rank == rank) orphans.push_back(id);
  }
  std::sort(orphans.begin(), orphans.end());
  for (uint64_t id : orphans) {
    auto node = pending_.extract(id);
    node.mapped().done(absl::UnavailableError(
        absl::StrCat("rank ", rank, "'s pmi-bridge left before the host answered")));
  }
}

absl::Status NodeHost::OnReply(int rank, const Reply& reply) {
  auto it = pending_.find(reply.id);
  if (it == pending_.end() || it->second.rank != rank) {
    return absl::DataLossError(
        absl::StrCat("rank ", rank, "'s pmi-bridge answered call ", reply.id, ", never made"));
  }
  auto done = std::move(it->second.done);
  pending_.erase(it);
  if (reply.status.ok()) {
    done(reply.value);
  } else {
    done(reply.status);
  }
  return absl::OkStatus();
}

MemberLink* NodeHost::LinkFor(int rank, bool any, int* carrier) const {
  auto it = links_.find(rank);
  if (it == links_.end() && any) it = links_.begin();
  if (it == links_.end()) return nullptr;
  *carrier = it->first;
  return it->second;
}

void NodeHost::Start(int rank, bool any, Call call,
                     std::function<void(absl::StatusOr<std::string>)> done) {
  int carrier = -1;
  MemberLink* link = LinkFor(rank, any, &carrier);
  if (link == nullptr) {
    done(absl::UnavailableError(absl::StrCat("rank ", rank, "'s pmi-bridge is not connected")));
    return;
  }
  call.id = next_id_++;
  pending_[call.id] = Pending{carrier, std::move(done)};
  link->Send(EncodeCall(call));
}

void NodeHost::Tell(int rank, const Notice& notice) {
  int carrier = -1;
  MemberLink* link = LinkFor(rank, /*any=*/notice.kind == NoticeKind::kAbort, &carrier);
  if (link != nullptr) link->Send(EncodeNotice(notice));
}

absl::Status NodeHost::ClaimRank(int rank) {
  if (!std::binary_search(local_ranks_.begin(), local_ranks_.end(), rank)) {
    return absl::OutOfRangeError(absl::StrCat("rank ", rank, " is not on this node"));
  }
  if (claimed_[rank]) {
    return absl::FailedPreconditionError(absl::StrCat("rank ", rank, " is already connected"));
  }
  claimed_[rank] = true;
  Tell(rank, Notice{NoticeKind::kClaimed, 0, ""});
  return absl::OkStatus();
}

void NodeHost::ReleaseRank(int rank) { claimed_[rank] = false; }

void NodeHost::Put(int rank, std::string key, std::string value, Done done) {
  ++stats_.puts;
  Call call;
  call.op = CallOp::kPut;
  call.key = std::move(key);
  call.value = std::move(value);
  Start(rank, /*any=*/true, std::move(call),
        [done = std::move(done)](absl::StatusOr<std::string> result) { done(result.status()); });
}

void NodeHost::Get(int rank, std::string key, GetDone done) {
  ++stats_.gets;
  Call call;
  call.op = CallOp::kGet;
  call.key = std::move(key);
  Start(rank, /*any=*/true, std::move(call), std::move(done));
}

void NodeHost::Barrier(int rank, Done done) {
  ++stats_.barriers;
  // Only the rank's own connection counts for the host's barrier.
  Start(rank, /*any=*/false, Call{0, CallOp::kBarrier, "", ""},
        [done = std::move(done)](absl::StatusOr<std::string> result) { done(result.status()); });
}

void NodeHost::PutNodeAttr(int, std::string, std::string, Done done) {
  done(absl::UnimplementedError("node attributes are not used by the node's PMIx server"));
}

void NodeHost::GetNodeAttr(int, std::string, bool, GetDone done) {
  done(absl::UnimplementedError("node attributes are not used by the node's PMIx server"));
}

void NodeHost::Abort(int rank, int exit_code, std::string message) {
  Tell(rank, Notice{NoticeKind::kAbort, exit_code, std::move(message)});
}

void NodeHost::Finalized(int rank) { Tell(rank, Notice{NoticeKind::kFinalized, 0, ""}); }

void NodeHost::Lost(int rank, std::string reason) {
  if (!Attached(rank)) {
    // Its bridge is gone too; the launcher sees that connection close. Once
    // one is, the launcher ends the others: only the first is news.
    if (losses_without_bridge_++ == 0) {
      log::Error(reason);
    } else {
      log::Debug(reason);
    }
    return;
  }
  Tell(rank, Notice{NoticeKind::kLost, 0, std::move(reason)});
}

}  // namespace pmi_shim::node
