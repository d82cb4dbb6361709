// The start-up exchange a bridge runs on its rank's JobHost before joining
// its node's PMIx server (flow 4): what the node layout needs from the
// launcher beyond PMI_process_mapping. Pure: JobHost calls only.
//
//   mapping, one node   nothing (the node's name is this machine's)
//   mapping, nodes > 1  each node's leader puts its hostname (HostnameKey),
//                       every rank enters one barrier: another node's server
//                       then reads one name per node
//   no mapping          every rank puts its hostname, one barrier, then
//                       reads every rank's: ranks with one name share a node
//
// Every rank of the job must run it (the barrier is the job's), and every
// rank takes the same branch, since all see the same mapping.
#ifndef PMI_SHIM_BRIDGE_NODE_STARTUP_EXCHANGE_H_
#define PMI_SHIM_BRIDGE_NODE_STARTUP_EXCHANGE_H_

#include <functional>
#include <string>

#include "absl/status/statusor.h"
#include "bridge/node/node_plan.h"
#include "bridge/session/job_host.h"

namespace pmi_shim::node {

// `done` gets this rank's plan, or why there is none (a mapping that cannot
// be read, a failed put/barrier/get); on the host's callbacks, possibly
// before this returns. `host` must outlive the exchange.
void RunStartupExchange(session::JobHost& host, int rank, const std::string& hostname,
                        std::function<void(absl::StatusOr<NodePlan>)> done);

}  // namespace pmi_shim::node

#endif  // PMI_SHIM_BRIDGE_NODE_STARTUP_EXCHANGE_H_
