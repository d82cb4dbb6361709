// The client half of a PMI-1 / PMI-2 start-up, as `pmi-shim-client check`
// runs it against the bridge's pmi.sock: enough to prove that a real client
// would get through MPI_Init's first steps, and to print who we are.
//
//   PMI-1: init 1.1, get_maxes, get_my_kvsname, get_universe_size
//   PMI-2: init 2.0, fullinit (pmijobid when known, pmirank, threaded=FALSE),
//          job-getid
//
// No put, barrier or finalize is sent, so the bridge counts the connection
// as a probe and the application can connect afresh afterwards.
// The byte exchange is protocol/pmi's CallChannel, as in the bridge's own
// handshake with the host; the reply checks are pure functions, tested on
// their own.
#ifndef PMI_SHIM_SHIM_CLIENT_PMI_HANDSHAKE_H_
#define PMI_SHIM_SHIM_CLIENT_PMI_HANDSHAKE_H_

#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/unique_fd.h"
#include "protocol/pmi/message.h"

namespace pmi_shim::shim_client {

struct HandshakeReport {
  int version = 0;  // wire version the server answered, e.g. 1.1 or 2.0
  int subversion = 0;
  std::optional<int> rank;  // PMI-2 fullinit only (PMI-1 has no rank on the wire)
  std::optional<int> size;  // PMI-2 size, PMI-1 universe size
  std::optional<int> appnum;
  std::string kvsname;                                     // PMI-1 kvsname / PMI-2 jobid
  std::optional<int> kvsname_max, keylen_max, vallen_max;  // PMI-1 only

  // "PMI-1 (wire 1.1)".
  std::string WireName() const;
};

// Checks a reply: the expected command and rc=0 (a missing rc counts as 0,
// as new MPICH reads it). Errors quote the reply.
absl::Status ExpectReply(const wire::Message& reply, absl::string_view command);

// Runs the handshake on a connected socket; every reply must arrive within
// `timeout` of its request. `jobid` and `rank` fill PMI-2's fullinit (rank
// -1 and an empty jobid are left out).
absl::StatusOr<HandshakeReport> HandshakePmi1(int fd, absl::Duration timeout);
absl::StatusOr<HandshakeReport> HandshakePmi2(int fd, int rank, const std::string& jobid,
                                              absl::Duration timeout);

}  // namespace pmi_shim::shim_client

#endif  // PMI_SHIM_SHIM_CLIENT_PMI_HANDSHAKE_H_
