// NodeMember: a bridge's membership in its node's PMIx server (flow 4). It
// joins (or starts) the server through the node directory
// (node_rendezvous.h), says hello as its rank, and from then on runs a
// MemberSession (member_session.h) over the control connection: the
// server's host work is done on the rank's JobHost, its news about the
// rank's client reach that host, and the welcome carries the command's
// PMIx environment.
//
// Loop thread only; the loop and the host must outlive the member.
#ifndef PMI_SHIM_BRIDGE_NODE_NODE_MEMBER_H_
#define PMI_SHIM_BRIDGE_NODE_NODE_MEMBER_H_

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "bridge/node/control_connection.h"
#include "bridge/node/member_session.h"
#include "bridge/node/node_plan.h"
#include "bridge/node/node_rendezvous.h"
#include "bridge/session/job_host.h"
#include "common/event_loop.h"

namespace pmi_shim::node {

class NodeMember {
 public:
  struct Events {
    std::function<void(absl::StatusOr<std::vector<std::string>>)> welcome;
    std::function<void()> bye;
    // The server went away (or broke the protocol) before its bye: why.
    std::function<void(std::string)> lost;
    // See MemberSession::Events::rank_alive.
    std::function<bool()> rank_alive;
  };

  // `join.name` is set from the plan and the host's job id.
  static absl::StatusOr<std::unique_ptr<NodeMember>> Join(EventLoop& loop, session::JobHost& host,
                                                          const NodePlan& plan, JoinOptions join,
                                                          Events events);

  void Exited(const std::string& how) { session_->Exited(how); }
  void Leave() { session_->Leave(); }
  bool client_spoke() const { return session_->client_spoke(); }
  bool started_server() const { return started_server_; }

 private:
  NodeMember(Events events) : events_(std::move(events)) {}

  Events events_;
  std::unique_ptr<ControlConnection> connection_;
  std::unique_ptr<MemberSession> session_;
  bool said_bye_ = false;
  bool started_server_ = false;
};

}  // namespace pmi_shim::node

#endif  // PMI_SHIM_BRIDGE_NODE_NODE_MEMBER_H_
