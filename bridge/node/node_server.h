// NodeServer: the one PMIx server of a node for one job (flow 4), run as
// `pmi-bridge node-server` by the first bridge of the node to arrive
// (node_rendezvous.h) and joined by the others over the node directory's
// control socket.
//
//   bridge (rank r) ──control.sock── NodeServer ── PmixServer (libpmix)
//        │ PMI_FD                        │ NodeHost        │ tcp / pmix.sock
//   launcher's PMI server            (work per rank   the ranks' Open MPI
//                                     done by bridges)  clients of this node
//
// On the first bridge's hello it learns the job (session::JobInfo) and the
// node's ranks from the launcher's PMI_process_mapping (node_plan.h), asks
// that bridge for the other nodes' names (published by each node's leader
// bridge through the host KVS), then starts libpmix with the launcher's
// node layout: every local rank is a local peer of the others, so Open MPI
// uses shared memory between them. Each bridge gets its rank's
// PMIx_server_setup_fork environment in its welcome.
//
// Lifetime: it ends when the last bridge of the node has left (or was lost)
// and nobody is waiting to join; it then stops libpmix, removes its tmpdir,
// the control socket, the lock and the node directory, and only then says
// bye to the last bridge, so a launcher that kills what is left once the
// last rank exits (Slurm's step cgroup) finds nothing. It never waits for a
// rank that does not come: without any bridge for `start_limit` after
// start, it cleans up and ends.
#ifndef PMI_SHIM_BRIDGE_NODE_NODE_SERVER_H_
#define PMI_SHIM_BRIDGE_NODE_NODE_SERVER_H_

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "bridge/downstream/pmix_server.h"
#include "bridge/node/control_connection.h"
#include "bridge/node/node_host.h"
#include "bridge/node/node_plan.h"
#include "common/event_loop.h"
#include "common/unique_fd.h"

namespace pmi_shim::node {

class NodeServer {
 public:
  struct Options {
    std::string directory;  // the node directory (node_rendezvous.h)
    absl::Duration start_limit = absl::Seconds(30);
  };

  // Listens on DIRECTORY/control.sock (replacing a stale one).
  static absl::StatusOr<std::unique_ptr<NodeServer>> Start(EventLoop& loop, Options options);
  ~NodeServer();

  // Whether the node ended cleanly (every bridge left after its command).
  bool clean() const { return clean_; }

 private:
  struct Member : MemberLink {
    void Send(const Message& message) override {
      if (connection != nullptr) connection->Send(message);
    }
    std::unique_ptr<ControlConnection> connection;
    int rank = -1;  // after hello
    bool welcomed = false;
    bool left = false;
  };

  NodeServer(EventLoop& loop, Options options, UniqueFd listener);
  void OnAcceptable();
  void Accept(UniqueFd fd);
  void OnMessage(Member* member, Message message);
  void OnHello(Member* member, const Message& message);
  void OnClosed(Member* member, const std::string& why);
  void FetchNodeNames();
  void StartPmix();
  void Welcome(Member* member);
  void Refuse(Member* member, const std::string& reason);
  // Ends the node if no bridge is here; false if one came meanwhile.
  bool MaybeFinish(Member* last);
  void Cleanup();
  void StopWhenFlushed(int tries);
  void Remove(Member* member);

  EventLoop& loop_;
  Options options_;
  UniqueFd listener_;
  std::vector<std::unique_ptr<Member>> members_;
  std::optional<NodePlan> plan_;  // from the first hello
  std::unique_ptr<NodeHost> host_;
  std::vector<std::string> node_names_;
  int names_missing_ = 0;
  std::unique_ptr<downstream::PmixServer> pmix_;
  EventLoop::TimerId start_timer_ = 0;
  bool finished_ = false;
  bool clean_ = true;
};

}  // namespace pmi_shim::node

#endif  // PMI_SHIM_BRIDGE_NODE_NODE_SERVER_H_
