// PmixV1Server: serves one rank's PMIx v1.2 client (OpenPMIx 1.2.x, the
// usock-only library of the Open MPI 2.0/2.1 era) natively, with any
// session::JobHost behind it: PMI-1 and PMI-2 launchers, a PMIx host, or
// the embedded KVS. No libpmix is involved; the wire is protocol/pmix_v1.
//
// What the client finds (ClientEnvironment):
//   PMIX_NAMESPACE, PMIX_RANK
//   PMIX_SERVER_URI=SERVER_NSPACE:0:DIR/usock    the only rendezvous v1.2 reads
//   PMIX_DSTORE_ESH_BASE_PATH=DIR/dstore (+ segment sizes): the data store
//                                     a ds12 build reads job data and peers'
//                                     values from (pmix_v1_store.h)
// Clients built without the store get the same data by message: the job
// data in the REQ reply, a peer's values in each GETNB reply.
//
// The socket accepts one connection, from a process of the job's uid
// (SO_PEERCRED), which must claim exactly this rank and nspace. Requests
// map onto the JobHost as follows:
//   connect      -> ClaimRank
//   REQ          -> answered once the job data is written: job size,
//                   universe, appnum, local peers, node list and node map,
//                   per-rank hostname, local and node rank, node id. The
//                   layout is the host's: PMI_process_mapping gives which
//                   ranks share a node, and the bridges exchange their host
//                   names through the KVS (one put per node, one barrier)
//                   when the job spans several nodes.
//   COMMIT       kept (local and remote scopes apart) for the next fence
//   FENCENB      ModexExchange fence (modex_codec.h): with collect, every
//                rank's remote data, and the local data of ranks on this
//                node, is written to the store before the reply; without,
//                the data is published for direct gets
//   GETNB        a peer's data not yet here: ModexExchange::DirectModex
//   ABORT        -> Abort(status, message), then the reply
//   FINALIZE     -> Finalized, then the reply
//   a connection lost before FINALIZE -> Lost (the host ends the job)
//   REGEVENTS    accepted (an error handler; no event is ever sent)
// Protocol errors are logged as one line naming the rank; a request that
// does not decode, or an unsupported command (publish, lookup, spawn,
// connect, notify), is answered with an error status so the client never
// waits.
//
// Everything runs on the loop's thread; the loop and host outlive the
// server.
#ifndef PMI_SHIM_BRIDGE_DOWNSTREAM_PMIX_V1_SERVER_H_
#define PMI_SHIM_BRIDGE_DOWNSTREAM_PMIX_V1_SERVER_H_

#include <sys/types.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "bridge/session/job_host.h"
#include "common/event_loop.h"

namespace pmi_shim::downstream {

class PmixV1Server {
 public:
  struct Options {
    int rank = 0;  // the one rank served
    // PMIx namespace; empty: the host's kvsname made safe (letters, digits,
    // '_', '-', '.'), at most 255 characters.
    std::string nspace;
    // An existing directory for the socket ("usock") and the store
    // ("dstore"); empty: a fresh one under $TMPDIR (or /tmp when that path
    // would be too long for a socket), removed by the server.
    std::string directory;
    // The same directory as the client sees it (inside a container); empty:
    // `directory`.
    std::string directory_as_seen;
    // The uid client processes must have; -1: this process's.
    uid_t uid = static_cast<uid_t>(-1);
    // This node's name as the host knows it; empty: gethostname().
    std::string hostname;
    // Log each request and reply at debug level.
    bool trace = false;
  };

  // Listens, creates the store and starts writing the job data (which may
  // wait for the other ranks' bridges). InvalidArgument for bad options;
  // errors of the socket or the files otherwise.
  static absl::StatusOr<std::unique_ptr<PmixV1Server>> Start(EventLoop& loop,
                                                             session::JobHost& host,
                                                             Options options);
  ~PmixV1Server();
  PmixV1Server(const PmixV1Server&) = delete;
  PmixV1Server& operator=(const PmixV1Server&) = delete;

  // "NAME=value" entries for the client's environment (see above).
  std::vector<std::string> ClientEnvironment() const;

  const std::string& nspace() const;
  const std::string& socket_path() const;
  // Whether the client completed the connect handshake / called finalize.
  bool Connected() const;
  bool Finalized() const;
  // The client's process ended (`how`: "exited with code 3"). If it had
  // connected and not finalized (and the loss was not reported already),
  // reports JobHost::Lost and returns true.
  bool RankExited(absl::string_view how);

  class Core;  // in the .cc

 private:
  explicit PmixV1Server(std::unique_ptr<Core> core);
  std::unique_ptr<Core> core_;
};

namespace pmix_v1_internal {

// Which node each rank is on, from a PMI_process_mapping value: node ids
// made dense in order of first appearance. InvalidArgument if it cannot be
// read.
absl::StatusOr<std::vector<int>> NodesFromMapping(absl::string_view mapping, int size);

// A fence contribution: this rank's local-only and remote key/values, each
// list in the compact encoding (protocol/pmix_v1/compact_values.h).
struct Contribution {
  int rank = 0;
  std::string local;
  std::string remote;
};
std::string EncodeContribution(const Contribution& contribution);
// A concatenation of contributions (what ModexExchange returns).
absl::StatusOr<std::vector<Contribution>> DecodeContributions(absl::string_view blob);

}  // namespace pmix_v1_internal

}  // namespace pmi_shim::downstream

#endif  // PMI_SHIM_BRIDGE_DOWNSTREAM_PMIX_V1_SERVER_H_
