// MemberSession: a bridge's end of the node control protocol
// (node_protocol.h), without I/O. It joins the node's PMIx server as its
// rank, does the host work the server asks for on the rank's own JobHost
// (the launcher's PMI connection, behind ReportingHost), passes on what the
// server tells about the rank's client, and leaves.
//
//   MemberSession session(host, send, events);
//   session.Join();                        // hello
//   session.OnMessage(message);            // each message read
//   session.Exited("exited with code 0");  // the command ended
//   session.Leave();                       // then wait for events.bye
//
// Loop thread only; `host` and the callbacks must outlive the session.
#ifndef PMI_SHIM_BRIDGE_NODE_MEMBER_SESSION_H_
#define PMI_SHIM_BRIDGE_NODE_MEMBER_SESSION_H_

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "bridge/node/node_protocol.h"
#include "bridge/session/job_host.h"

namespace pmi_shim::node {

class MemberSession {
 public:
  struct Events {
    // The server's answer to hello: the command's PMIx environment, or why not.
    std::function<void(absl::StatusOr<std::vector<std::string>>)> welcome;
    // The server said bye: nothing more will come.
    std::function<void()> bye;
    // Whether the rank's command still runs (empty: assume so). A rank whose
    // command has ended never enters the host barrier for it: libpmix may
    // complete a local fence without a client that died, and the barrier
    // entered on the dead rank's behalf would let the other nodes go on.
    std::function<bool()> rank_alive;
  };

  // `node_of_rank`: the launcher's node of every rank (node_plan.h).
  MemberSession(session::JobHost& host, int rank, std::vector<int> node_of_rank,
                std::function<void(const Message&)> send, Events events);
  ~MemberSession();

  void Join();
  // DataLoss for a message this side does not understand.
  absl::Status OnMessage(const Message& message);
  void Exited(const std::string& how);
  void Leave();

  // Whether the rank's client connected to the node's server.
  bool client_spoke() const { return client_spoke_; }

 private:
  void RunCall(const Call& call);

  session::JobHost& host_;
  const int rank_;
  const std::vector<int> node_of_rank_;
  std::function<void(const Message&)> send_;
  Events events_;
  bool welcomed_ = false;
  bool client_spoke_ = false;
  bool exited_ = false;
  // Host callbacks that outlive the session become no-ops.
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

}  // namespace pmi_shim::node

#endif  // PMI_SHIM_BRIDGE_NODE_MEMBER_SESSION_H_
