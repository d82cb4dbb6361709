// Where the bridges of one node and job meet their node's PMIx server: the
// node directory ROOT/NAME (NAME from NodeDirectoryName: job id and node
// index), mode 0700, holding
//   lock          flock'd by whoever connects, starts or ends the server
//   control.sock  the NodeServer's control socket (node_server.h)
//
// JoinNodeServer takes the lock, connects to control.sock, and when nobody
// listens there (first bridge of the node, or a server that died) starts
// `pmi-bridge node-server` itself and connects once it listens. The server
// runs in a session of its own (a launcher's kill of a rank's process group
// does not cut its clean-up short; it ends when its bridges are gone) with
// no descriptor of the bridge's but its stderr, so messages reach the
// launcher's output.
//
// The lock file can be unlinked by a server ending meanwhile; a lock taken
// on a file that is no longer at its path is retaken on the new one.
#ifndef PMI_SHIM_BRIDGE_NODE_NODE_RENDEZVOUS_H_
#define PMI_SHIM_BRIDGE_NODE_NODE_RENDEZVOUS_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/unique_fd.h"

namespace pmi_shim::node {

struct JoinOptions {
  std::string root;                        // the publish root (DefaultPublishRoot)
  std::string name;                        // NodeDirectoryName(job, node)
  std::string program = "/proc/self/exe";  // the pmi-bridge to run as node-server
  absl::Duration start_wait = absl::Seconds(20);
  int verbosity = 0;  // passed on as -v flags
};

// A connected control socket. `started` says whether this call started the
// server. Errors are one line naming the node directory.
absl::StatusOr<UniqueFd> JoinNodeServer(const JoinOptions& options, bool* started);

// This machine's name: the node's, as its bridges and its server see it
// (they run on the node, never in a container).
std::string LocalHostname();

}  // namespace pmi_shim::node

#endif  // PMI_SHIM_BRIDGE_NODE_NODE_RENDEZVOUS_H_
