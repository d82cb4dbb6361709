#include "bridge/node/node_member.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"

namespace pmi_shim::node {

absl::StatusOr<std::unique_ptr<NodeMember>> NodeMember::Join(EventLoop& loop,
                                                             session::JobHost& host,
                                                             const NodePlan& plan, JoinOptions join,
                                                             Events events) {
  join.name = NodeDirectoryName(host.info().kvsname, plan.node);
  std::unique_ptr<NodeMember> member(new NodeMember(std::move(events)));
  NodeMember* self = member.get();
  ASSIGN_OR_RETURN(UniqueFd fd, JoinNodeServer(join, &self->started_server_));
  ControlConnection::Events connection_events;
  connection_events.message = [self](Message message) {
    absl::Status handled = self->session_->OnMessage(message);
    if (!handled.ok() && !self->said_bye_) {
      self->said_bye_ = true;
      self->events_.lost(std::string(handled.message()));
    }
  };
  connection_events.closed = [self](std::string why) {
    if (self->said_bye_) return;
    self->said_bye_ = true;
    self->events_.lost(absl::StrCat("the node's PMIx server went away (", why, ")"));
  };
  ASSIGN_OR_RETURN(self->connection_,
                   ControlConnection::Start(loop, std::move(fd), std::move(connection_events)));
  MemberSession::Events session_events;
  session_events.welcome = [self](absl::StatusOr<std::vector<std::string>> env) {
    self->events_.welcome(std::move(env));
  };
  session_events.rank_alive = self->events_.rank_alive;
  session_events.bye = [self] {
    if (self->said_bye_) return;
    self->said_bye_ = true;
    self->events_.bye();
  };
  self->session_ = std::make_unique<MemberSession>(
      host, plan.rank, plan.node_of_rank,
      [self](const Message& message) { self->connection_->Send(message); },
      std::move(session_events));
  self->session_->Join();
  return member;
}

}  // namespace pmi_shim::node
