#include "bridge/node/node_server.h"

#include <fcntl.h>
#include <sys/epoll.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <utility>

#include "absl/strings/str_cat.h"
#include "bridge/node/node_rendezvous.h"
#include "common/log.h"
#include "common/sockets.h"
#include "common/status_macros.h"

namespace pmi_shim::node {

namespace {

std::string InDirectory(const std::string& directory, const char* name) {
  return absl::StrCat(directory, "/", name);
}

void NodeError(absl::string_view message) { log::Error(absl::StrCat("node server: ", message)); }

}  // namespace

absl::StatusOr<std::unique_ptr<NodeServer>> NodeServer::Start(EventLoop& loop, Options options) {
  const std::string socket_path = InDirectory(options.directory, kControlSocketName);
  ::unlink(socket_path.c_str());  // a stale one: its server is gone (the starter checked)
  ASSIGN_OR_RETURN(UniqueFd listener, ListenUnix(socket_path));
  std::unique_ptr<NodeServer> server(new NodeServer(loop, std::move(options), std::move(listener)));
  NodeServer* self = server.get();
  RETURN_IF_ERROR(
      loop.Watch(self->listener_.get(), EPOLLIN, [self](uint32_t) { self->OnAcceptable(); }));
  self->start_timer_ = loop.AddTimer(self->options_.start_limit, [self] {
    self->start_timer_ = 0;
    if (self->plan_.has_value()) return;
    NodeError(absl::StrCat("no pmi-bridge joined within ",
                           absl::FormatDuration(self->options_.start_limit), "; ending"));
    self->clean_ = false;
    self->MaybeFinish(nullptr);
  });
  return server;
}

NodeServer::NodeServer(EventLoop& loop, Options options, UniqueFd listener)
    : loop_(loop), options_(std::move(options)), listener_(std::move(listener)) {}

NodeServer::~NodeServer() {
  if (start_timer_ != 0) loop_.CancelTimer(start_timer_);
  if (listener_.valid()) loop_.Unwatch(listener_.get());
  if (!finished_) Cleanup();
  members_.clear();
}

void NodeServer::OnAcceptable() {
  for (;;) {
    UniqueFd fd(::accept4(listener_.get(), nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK));
    if (!fd.valid()) return;  // EAGAIN, or a connection that went away
    Accept(std::move(fd));
  }
}

void NodeServer::Accept(UniqueFd fd) {
  auto member = std::make_unique<Member>();
  Member* raw = member.get();
  ControlConnection::Events events;
  events.message = [this, raw](Message message) { OnMessage(raw, std::move(message)); };
  events.closed = [this, raw](std::string why) { OnClosed(raw, why); };
  absl::StatusOr<std::unique_ptr<ControlConnection>> connection =
      ControlConnection::Start(loop_, std::move(fd), std::move(events));
  if (!connection.ok()) {
    NodeError(connection.status().message());
    return;
  }
  member->connection = *std::move(connection);
  members_.push_back(std::move(member));
}

void NodeServer::OnMessage(Member* member, Message message) {
  if (message.verb == "hello") {
    OnHello(member, message);
    return;
  }
  if (member->rank < 0 || host_ == nullptr) {
    NodeError(absl::StrCat("a '", message.verb, "' message before hello"));
    return;
  }
  if (message.verb == "reply") {
    absl::StatusOr<Reply> reply = DecodeReply(message);
    absl::Status status = reply.ok() ? host_->OnReply(member->rank, *reply) : reply.status();
    if (!status.ok()) NodeError(status.message());
  } else if (message.verb == "exited" && message.args.size() == 1) {
    if (pmix_ != nullptr) pmix_->RankExited(member->rank, message.args[0]);
  } else if (message.verb == "leave") {
    if (member->left) return;
    member->left = true;
    host_->Detach(member->rank);
    if (!MaybeFinish(member)) member->Send({"bye", {}});
  } else {
    NodeError(absl::StrCat("rank ", member->rank, "'s pmi-bridge sent an unknown '", message.verb,
                           "' message"));
  }
}

void NodeServer::Refuse(Member* member, const std::string& reason) {
  NodeError(reason);
  member->welcomed = true;
  member->Send({"refused", {reason}});
}

void NodeServer::OnHello(Member* member, const Message& message) {
  absl::StatusOr<Hello> hello = DecodeHello(message);
  if (!hello.ok()) {
    Refuse(member, std::string(hello.status().message()));
    return;
  }
  if (member->rank >= 0) {
    Refuse(member, absl::StrCat("rank ", member->rank, " said hello twice"));
    return;
  }
  const bool first = !plan_.has_value();
  if (first) {
    absl::StatusOr<NodePlan> plan = PlanFromNodeIds(hello->node_of_rank, hello->rank);
    if (!plan.ok()) {
      Refuse(member, std::string(plan.status().message()));
      return;
    }
    plan_ = *std::move(plan);
    host_ = std::make_unique<NodeHost>(hello->job, plan_->local_ranks);
  } else {
    const session::JobInfo& job = host_->info();
    std::string problem;
    if (hello->job.kvsname != job.kvsname || hello->job.size != job.size) {
      problem = absl::StrCat("rank ", hello->rank, " belongs to job ", hello->job.kvsname,
                             ", not to this node server's ", job.kvsname);
    } else if (hello->node_of_rank != plan_->node_of_rank) {
      problem =
          absl::StrCat("rank ", hello->rank, " sees another node layout than rank ", plan_->rank);
    } else if (!std::binary_search(plan_->local_ranks.begin(), plan_->local_ranks.end(),
                                   hello->rank)) {
      problem = absl::StrCat("rank ", hello->rank, " is not on this node");
    } else if (host_->Attached(hello->rank)) {
      problem = absl::StrCat("rank ", hello->rank, " joined twice");
    }
    if (!problem.empty()) {
      Refuse(member, problem);
      return;
    }
  }
  member->rank = hello->rank;
  host_->Attach(member->rank, member);
  if (first) {
    if (start_timer_ != 0) loop_.CancelTimer(start_timer_);
    start_timer_ = 0;
    FetchNodeNames();
  } else if (pmix_ != nullptr) {
    Welcome(member);
  }
}

void NodeServer::FetchNodeNames() {
  node_names_.assign(plan_->node_count, "");
  node_names_[plan_->node] = LocalHostname();
  names_missing_ = plan_->node_count - 1;
  if (names_missing_ == 0) {
    StartPmix();
    return;
  }
  // Each node's leader bridge put its hostname before the start-up barrier
  // (BridgedRank), so one bridge of this node reads them once for all.
  for (int node = 0; node < plan_->node_count; ++node) {
    if (node == plan_->node) continue;
    host_->Get(plan_->rank, HostnameKey(plan_->LeaderOf(node)),
               [this, node](absl::StatusOr<std::string> name) {
                 if (names_missing_ <= 0) return;  // failed already
                 if (!name.ok() || name->empty()) {
                   names_missing_ = -1;
                   const std::string problem =
                       absl::StrCat("cannot learn node ", node, "'s hostname from the host's KVS: ",
                                    name.ok() ? "empty" : name.status().message());
                   for (auto& member : members_) {
                     if (member->rank >= 0 && !member->welcomed) Refuse(member.get(), problem);
                   }
                   return;
                 }
                 node_names_[node] = *name;
                 if (--names_missing_ == 0) StartPmix();
               });
  }
}

void NodeServer::StartPmix() {
  downstream::PmixServer::Options options;
  options.local_ranks = plan_->local_ranks;
  options.node_of_rank = plan_->node_of_rank;
  options.node_names = node_names_;
  absl::StatusOr<std::unique_ptr<downstream::PmixServer>> pmix =
      downstream::PmixServer::Start(loop_, *host_, std::move(options));
  if (!pmix.ok()) {
    const std::string problem =
        absl::StrCat("cannot start the PMIx server: ", pmix.status().message());
    for (auto& member : members_) {
      if (member->rank >= 0 && !member->welcomed) Refuse(member.get(), problem);
    }
    return;
  }
  pmix_ = *std::move(pmix);
  for (auto& member : members_) {
    if (member->rank >= 0 && !member->welcomed) Welcome(member.get());
  }
}

void NodeServer::Welcome(Member* member) {
  absl::StatusOr<std::vector<std::string>> env = pmix_->ClientEnvironment(member->rank);
  if (!env.ok()) {
    Refuse(member, std::string(env.status().message()));
    return;
  }
  member->welcomed = true;
  member->Send({"welcome", *std::move(env)});
}

void NodeServer::OnClosed(Member* member, const std::string& why) {
  if (member->rank >= 0 && !member->left) {
    // Its bridge died (a launcher's SIGKILL, a crash): the rank is lost.
    member->left = true;
    clean_ = false;
    host_->Detach(member->rank);
    if (pmix_ == nullptr ||
        !pmix_->RankExited(member->rank, absl::StrCat("its pmi-bridge ended (", why, ")"))) {
      log::Debug(absl::StrCat("node server: rank ", member->rank, "'s pmi-bridge ended: ", why));
    }
  }
  Remove(member);
  if (!finished_) MaybeFinish(nullptr);
}

void NodeServer::Remove(Member* member) {
  // The member's connection is calling us: destroy it after this turn.
  auto it = std::find_if(members_.begin(), members_.end(),
                         [member](const auto& m) { return m.get() == member; });
  if (it == members_.end()) return;
  std::shared_ptr<Member> doomed(std::move(*it));
  members_.erase(it);
  loop_.Post([doomed] {});
}

bool NodeServer::MaybeFinish(Member* last) {
  if (finished_) return true;
  auto here = [this] {
    return std::any_of(members_.begin(), members_.end(), [](const auto& member) {
      return !member->left && member->connection != nullptr && member->connection->open();
    });
  };
  if (here()) return false;
  // Joiners connect while holding the node lock: with the lock held, one
  // that connected is in the listen backlog, and none can start connecting.
  const std::string lock_path = InDirectory(options_.directory, kLockFileName);
  UniqueFd lock(::open(lock_path.c_str(), O_RDWR | O_CLOEXEC | O_NOFOLLOW));
  if (lock.valid()) {
    while (::flock(lock.get(), LOCK_EX) != 0 && errno == EINTR) {
    }
  }
  OnAcceptable();
  if (here()) return false;  // someone came after all (the lock goes with `lock`)
  finished_ = true;
  Cleanup();
  if (last != nullptr) last->Send({"bye", {}});
  StopWhenFlushed(0);
  return true;
}

void NodeServer::StopWhenFlushed(int tries) {
  // Give the bye a moment to leave, then end.
  const bool flushed = std::all_of(members_.begin(), members_.end(), [](const auto& member) {
    return member->connection == nullptr || member->connection->flushed();
  });
  if (flushed || tries >= 200) {
    loop_.Stop();
    return;
  }
  loop_.AddTimer(absl::Milliseconds(5), [this, tries] { StopWhenFlushed(tries + 1); });
}

void NodeServer::Cleanup() {
  if (pmix_ != nullptr) {
    const bool failed = !clean_;
    pmix_->Stop();
    if (failed) log::Debug("node server: the node's job did not end cleanly");
  }
  if (listener_.valid()) {
    loop_.Unwatch(listener_.get());
    listener_.Reset();
  }
  ::unlink(InDirectory(options_.directory, kControlSocketName).c_str());
  ::unlink(InDirectory(options_.directory, kLockFileName).c_str());
  ::rmdir(options_.directory.c_str());
}

}  // namespace pmi_shim::node
