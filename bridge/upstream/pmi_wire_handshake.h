// PmiWireHost's connection set-up and synchronous handshake: opening the
// connection to the launcher's PMI server (the inherited PMI_FD, or TCP to
// PMI_PORT), then, before the event loop runs, the blocking PMI-1 or PMI-2
// exchange that learns the job's facts, so that they are complete when the
// downstream server starts.
//
// Internal to PmiWireHost (pmi_wire_host.h holds the contract):
//
//   ASSIGN_OR_RETURN(UniqueFd fd, OpenHostConnection(endpoint, deadline));
//   ASSIGN_OR_RETURN(HandshakeResult result,
//                    Handshake(fd.get(), endpoint, protocol, deadline, trace));
//
// Errors are one line naming the host rendezvous and what to do.
#ifndef PMI_SHIM_BRIDGE_UPSTREAM_PMI_WIRE_HANDSHAKE_H_
#define PMI_SHIM_BRIDGE_UPSTREAM_PMI_WIRE_HANDSHAKE_H_

#include <cstddef>
#include <functional>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "bridge/session/job_host.h"
#include "bridge/upstream/host_endpoint.h"
#include "common/unique_fd.h"
#include "protocol/pmi/message.h"

namespace pmi_shim::upstream::pmi_wire_internal {

// Slurm reads a PMI-1 request with one read() of at most 1024 bytes and does
// not reassemble (reference/protocols.md §1.2). Toward Slurm (PMI_JOBID set
// and equal to the kvsname) every PMI-1 request stays within this size, and
// the value limit shrinks to match; hydra (64 KiB) and Flux (1216-byte
// lines) take a full 1024-byte value.
inline constexpr size_t kMaxPmi1RequestBytes = 1023;

// Wire trace: every message to (true) and from (false) the host.
using TraceFn = std::function<void(bool to_host, const wire::Message& message)>;

struct HandshakeResult {
  // Complete, with the process mapping re-encoded by PlainProcessMapping.
  session::JobInfo info;
  int rank = 0;
  bool spawned = false;
  // Slurm's PMI-1 server: every request must fit one 1024-byte read()
  // (kMaxPmi1RequestBytes); info.limits.vallen_max is already cut to match.
  bool one_read_per_request = false;
};

// The connection to the host server, non-blocking. With endpoint.fd set,
// takes the inherited descriptor over if it is a socket (a non-socket is
// left alone: FailedPrecondition) and makes it close-on-exec; otherwise
// connects to endpoint.port_host:port by `deadline` (Unavailable).
// `endpoint` must have a fd, or a port and port_host.
absl::StatusOr<UniqueFd> OpenHostConnection(const HostEndpoint& endpoint, absl::Time deadline);

// Runs the handshake of `protocol` on `fd` (non-blocking, not yet on a
// loop), waiting in poll() until `deadline`; `trace` (may be empty) sees
// every message. Fails when the host refuses, answers out of protocol, says
// this rank is outside the job, or sends more than it was asked for.
absl::StatusOr<HandshakeResult> Handshake(int fd, const HostEndpoint& endpoint,
                                          WireProtocol protocol, absl::Time deadline,
                                          const TraceFn& trace);

}  // namespace pmi_shim::upstream::pmi_wire_internal

#endif  // PMI_SHIM_BRIDGE_UPSTREAM_PMI_WIRE_HANDSHAKE_H_
