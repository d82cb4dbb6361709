#include "bridge/upstream/pmi_over_pmix.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "bridge/upstream/pmix_value_codec.h"

namespace pmi_shim::upstream {

using Scope = PmixClientPort::Scope;
using Kind = PmixClientPort::Kind;

PmiOverPmix::PmiOverPmix(EventLoop& loop, PmixClientPort& port, Options options)
    : loop_(loop),
      port_(port),
      options_(std::move(options)),
      self_(std::make_shared<PmiOverPmix*>(this)) {}

PmiOverPmix::~PmiOverPmix() {
  for (auto& [id, wait] : node_attr_waits_) {
    if (wait.timer != 0) loop_.CancelTimer(wait.timer);
  }
}

absl::Status PmiOverPmix::CheckUsable() const {
  if (lost_reason_.has_value()) return absl::UnavailableError(*lost_reason_);
  if (finalized_) return absl::FailedPreconditionError("the PMIx connection is finalized");
  return absl::OkStatus();
}

absl::Status PmiOverPmix::Checked(absl::Status status) {
  if (absl::IsUnavailable(status)) ReportLost(status.message());
  return status;
}

void PmiOverPmix::Put(std::string key, std::string value, Done done) {
  absl::Status status = CheckUsable();
  if (status.ok()) {
    status = Checked(port_.Put(Scope::kJob, ToPmixKey(KeyScope::kJob, key), value, Kind::kString));
  }
  if (status.ok()) {
    epoch_keys_.insert(key);
    own_kvs_[std::move(key)] = std::move(value);  // a later put of a key wins
  }
  done(status);
}

void PmiOverPmix::Get(std::string key, GetDone done) {
  if (absl::Status status = CheckUsable(); !status.ok()) {
    done(status);
    return;
  }
  if (key == "PMI_process_mapping" && options_.process_mapping.has_value()) {
    done(*options_.process_mapping);
    return;
  }
  if (auto own = own_kvs_.find(key); own != own_kvs_.end()) {
    done(own->second);
    return;
  }
  auto owner = key_owner_.find(key);
  if (owner == key_owner_.end()) {
    // Covers MPICH's "-NONEXIST-KEY" probe: answered at once, never waited for.
    done(absl::NotFoundError(
        absl::StrCat("key ", key, " was not put by any rank before the last barrier")));
    return;
  }
  port_.Get(owner->second, ToPmixKey(KeyScope::kJob, key), Track(std::move(done)));
}

absl::Status PmiOverPmix::PutKeyDirectory() {
  const std::string bytes =
      EncodeKeyDirectory(std::vector<std::string>(epoch_keys_.begin(), epoch_keys_.end()));
  return Checked(port_.Put(Scope::kJob, KeyDirectoryKey(epoch_), bytes, Kind::kBytes));
}

// A PMI-1 client never sends a commit (PMI_KVS_Commit is local), so every
// barrier commits; the fence collects the data so that later gets are local.
void PmiOverPmix::Barrier(Done done) {
  if (absl::Status status = CheckUsable(); !status.ok()) {
    done(status);
    return;
  }
  if (barrier_active_) {
    done(absl::FailedPreconditionError(
        absl::StrCat("rank ", options_.rank, " entered the barrier twice")));
    return;
  }
  absl::Status status = PutKeyDirectory();
  if (status.ok()) status = Checked(port_.Commit());
  if (!status.ok()) {
    done(status);
    return;
  }
  barrier_active_ = true;
  Reply fenced = Track([this, done = std::move(done)](absl::StatusOr<std::string> result) mutable {
    OnFenced(result.status(), std::move(done));
  });
  port_.Fence(absl::StrCat("PMIx fence of barrier ", epoch_ + 1),
              [fenced = std::move(fenced)](absl::Status result) {
                fenced(result.ok() ? absl::StatusOr<std::string>(std::string()) : result);
              });
}

void PmiOverPmix::OnFenced(absl::Status status, Done done) {
  if (!status.ok()) {
    barrier_active_ = false;
    done(status);
    return;
  }
  std::vector<int> others;
  for (int rank = 0; rank < options_.size; ++rank) {
    if (rank != options_.rank) others.push_back(rank);
  }
  GetFromEach(others, KeyDirectoryKey(epoch_),
              [this, others, done = std::move(done)](Replies directories) mutable {
                OnKeyDirectories(others, std::move(directories), std::move(done));
              });
}

void PmiOverPmix::OnKeyDirectories(const std::vector<int>& ranks, Replies directories, Done done) {
  barrier_active_ = false;
  // Walk ranks downwards so that, within one barrier, the lowest rank that
  // put a key owns it: every bridge of the job picks the same one.
  for (size_t i = directories.size(); i-- > 0;) {
    absl::StatusOr<std::vector<std::string>> keys =
        directories[i].ok() ? DecodeKeyDirectory(*directories[i])
                            : absl::StatusOr<std::vector<std::string>>(directories[i].status());
    if (!keys.ok()) {
      done(absl::IsUnavailable(keys.status())
               ? keys.status()
               : absl::FailedPreconditionError(
                     absl::StrCat("rank ", ranks[i], " published no pmi-shim key list at barrier ",
                                  epoch_ + 1, " (", keys.status().message(),
                                  "); every rank of the job must run through pmi-bridge")));
      return;
    }
    for (std::string& key : *keys) key_owner_[std::move(key)] = ranks[i];
  }
  ++epoch_;
  epoch_keys_.clear();
  done(absl::OkStatus());
}

// PMI-2 node attributes are only visible on the node (PMIX_LOCAL); the
// commit makes them visible to local peers at once, without a fence.
void PmiOverPmix::PutNodeAttr(std::string key, std::string value, Done done) {
  absl::Status status = CheckUsable();
  if (status.ok()) {
    status =
        Checked(port_.Put(Scope::kNode, ToPmixKey(KeyScope::kNode, key), value, Kind::kString));
  }
  if (status.ok()) status = Checked(port_.Commit());
  if (status.ok()) own_node_attrs_[std::move(key)] = std::move(value);
  done(status);
}

void PmiOverPmix::GetNodeAttr(std::string key, bool wait, GetDone done) {
  if (absl::Status status = CheckUsable(); !status.ok()) {
    done(status);
    return;
  }
  if (auto own = own_node_attrs_.find(key); own != own_node_attrs_.end()) {
    done(own->second);
    return;
  }
  const uint64_t wait_id = next_id_++;
  node_attr_waits_[wait_id] = NodeAttrWait{std::move(key), wait, std::move(done), 0};
  PollNodeAttr(wait_id);
}

// The ranks that may have put a node attribute visible here.
std::vector<int> PmiOverPmix::NodePeers() const {
  std::vector<int> peers;
  if (options_.local_peers.empty()) {  // unknown: ask everyone, remote ranks answer not-found
    for (int rank = 0; rank < options_.size; ++rank) peers.push_back(rank);
  } else {
    peers = options_.local_peers;
  }
  peers.erase(std::remove(peers.begin(), peers.end(), options_.rank), peers.end());
  return peers;
}

void PmiOverPmix::PollNodeAttr(uint64_t wait_id) {
  auto it = node_attr_waits_.find(wait_id);
  if (it == node_attr_waits_.end()) return;
  it->second.timer = 0;
  GetFromEach(NodePeers(), ToPmixKey(KeyScope::kNode, it->second.key),
              [this, wait_id](Replies replies) { OnNodeAttrReplies(wait_id, std::move(replies)); });
}

void PmiOverPmix::OnNodeAttrReplies(uint64_t wait_id, Replies replies) {
  auto it = node_attr_waits_.find(wait_id);
  if (it == node_attr_waits_.end()) return;  // failed by the upstream loss
  std::optional<absl::StatusOr<std::string>> answer;
  for (absl::StatusOr<std::string>& reply : replies) {
    if (reply.ok() || absl::IsUnavailable(reply.status())) {
      answer = std::move(reply);
      break;
    }
  }
  if (!answer.has_value() && !it->second.wait) {
    answer = absl::NotFoundError(absl::StrCat("node attribute ", it->second.key, " not found"));
  }
  if (answer.has_value()) {
    GetDone done = std::move(it->second.done);
    node_attr_waits_.erase(it);
    done(std::move(*answer));
    return;
  }
  it->second.timer =
      loop_.AddTimer(options_.node_attr_poll, [self = std::weak_ptr(self_), wait_id] {
        if (auto host = self.lock()) (*host)->PollNodeAttr(wait_id);
      });
}

PmiOverPmix::Reply PmiOverPmix::Track(Reply reply) {
  const uint64_t id = next_id_++;
  pending_.emplace(id, std::move(reply));
  return [self = std::weak_ptr(self_), id](absl::StatusOr<std::string> result) {
    if (auto host = self.lock()) (*host)->Complete(id, std::move(result));
  };
}

void PmiOverPmix::Complete(uint64_t id, absl::StatusOr<std::string> result) {
  auto node = pending_.extract(id);
  if (node.empty()) return;  // already failed by the upstream loss
  if (!result.ok() && absl::IsUnavailable(result.status())) ReportLost(result.status().message());
  node.mapped()(std::move(result));
}

void PmiOverPmix::GetFromEach(const std::vector<int>& ranks, const std::string& pmix_key,
                              std::function<void(Replies)> done) {
  struct Gather {
    Replies replies;
    size_t remaining;
    std::function<void(Replies)> done;
  };
  if (ranks.empty()) {
    done({});
    return;
  }
  auto gather = std::make_shared<Gather>(
      Gather{Replies(ranks.size(), absl::UnknownError("no reply")), ranks.size(), std::move(done)});
  for (size_t i = 0; i < ranks.size(); ++i) {
    port_.Get(ranks[i], pmix_key, Track([gather, i](absl::StatusOr<std::string> reply) {
                gather->replies[i] = std::move(reply);
                if (--gather->remaining == 0) gather->done(std::move(gather->replies));
              }));
  }
}

void PmiOverPmix::ReportLost(absl::string_view reason) {
  if (lost_reason_.has_value()) return;
  lost_reason_ = absl::StrCat("lost the connection to the PMIx server (", reason,
                              "); the launcher has probably ended the job");
  loop_.Post([self = std::weak_ptr(self_), reason = *lost_reason_] {
    if (auto host = self.lock()) (*host)->HandleLost(reason);
  });
}

void PmiOverPmix::HandleLost(const std::string& reason) {
  barrier_active_ = false;
  auto pending = std::move(pending_);
  pending_.clear();
  for (auto& [id, reply] : pending) reply(absl::UnavailableError(reason));
  auto waits = std::move(node_attr_waits_);
  node_attr_waits_.clear();
  for (auto& [id, wait] : waits) {
    if (wait.timer != 0) loop_.CancelTimer(wait.timer);
    wait.done(absl::UnavailableError(reason));
  }
  if (options_.on_lost) options_.on_lost(reason);
}

}  // namespace pmi_shim::upstream
