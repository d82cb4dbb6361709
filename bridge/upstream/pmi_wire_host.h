// PmiWireHost: the job of `pmi-bridge exec`, reached through the real
// launcher's PMI-1 or PMI-2 server (mpiexec.hydra, Slurm --mpi=pmi2, Flux).
//
// An exec bridge serves exactly one rank: it holds ONE connection to the
// host server (the inherited PMI_FD, or TCP to PMI_PORT) and forwards the
// JobHost operations of that rank's downstream session over it. Rows
// "PMI-1 server" and "PMI-2 server" of the translation matrix (design.md §3).
//
//   ASSIGN_OR_RETURN(std::unique_ptr<PmiWireHost> host,
//                    PmiWireHost::Connect(loop, endpoint, WireProtocol::kPmi1, options));
//   PmiServer server(loop, *host, {});    // the container's client connects here
//
// Connect does the whole handshake synchronously (blocking reads with a
// deadline, before the loop runs), so that info() is complete when the
// downstream server starts: rank and size (PMI_RANK/PMI_SIZE, the PMI_PORT
// `set` lines, or PMI-2 fullinit), kvsname, appnum, universe size
// (-1 when the host does not know it, as hydra 4.0.2 answers), the
// PMI_process_mapping (re-encoded to plain 3-tuples, see PlainProcessMapping
// in process_mapping.h) and the limits (PMI-1 get_maxes with values capped
// at 1024 bytes, and at Slurm so that every request fits the 1024 bytes its
// PMI-1 server reads at once; PMI-2: 256/64/1024). Afterwards the socket is
// watched on the loop. The handshake is in pmi_wire_handshake.h, and reading
// replies in every dialect in pmi_wire_replies.h.
//
// Gets are answered from a per-epoch cache when this rank already put or
// read the key since the last barrier (see epoch_values_).
//
// The wire is strictly request/response: requests wait in a FIFO and the
// next is written (in one write) only when the previous one is answered,
// which is also what Slurm needs (one read() per request, no reassembly: a
// second request in the same read is lost). Replies are read in every
// dialect seen in the field: `rc` anywhere or absent (hydra 4.0.2 omits it
// from maxes/appnum/universe_size/barrier_out/finalize_ack), `msg=success`,
// a trailing `found=TRUE`, not-found as rc 1/4/-1 or `found=FALSE`, and
// left- or right-aligned PMI-2 lengths.
//
// PMI-2 barriers are `kvs-fence` followed by a get of "-NONEXIST-KEY", as
// MPICH does: hydra answers kvs-fence at once and holds gets until every
// rank fenced, Slurm holds the fence itself; either way the barrier then
// really waits for the job.
//
// Failure semantics. When the host connection closes or fails, or the host
// breaks the protocol (a reply that does not answer the request), every
// pending callback gets Unavailable with one line naming the reason, later
// operations fail the same way, and Options::on_upstream_lost fires once.
// A close after finalize_ack, or after this rank aborted, is expected and
// reported to nobody. Abort and Lost jump the queue (an abort must not wait
// behind a barrier that can no longer complete).
//
// Threading: Connect and every member run on the loop's thread. Pending
// callbacks are dropped (not called) when the host is destroyed; do not
// destroy it from inside one of its own callbacks.
#ifndef PMI_SHIM_BRIDGE_UPSTREAM_PMI_WIRE_HOST_H_
#define PMI_SHIM_BRIDGE_UPSTREAM_PMI_WIRE_HOST_H_

#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "bridge/session/job_host.h"
#include "bridge/upstream/host_endpoint.h"
#include "common/event_loop.h"
#include "common/net/stream.h"
#include "common/unique_fd.h"
#include "protocol/pmi/frame_decoder.h"
#include "protocol/pmi/message.h"

namespace pmi_shim::upstream {

class PmiWireHost : public session::JobHost {
 public:
  struct Options {
    // Limit for connecting and the whole handshake.
    absl::Duration handshake_timeout = absl::Seconds(10);
    // The host connection is gone or unusable; `reason` is one line. Fires
    // at most once, after the pending callbacks got their errors.
    std::function<void(std::string reason)> on_upstream_lost;
    // The host acknowledged this rank's finalize: the connection may now be
    // closed (and the bridge may exit) without the host killing the job.
    std::function<void()> on_finalized;
    // Wire trace: every message to (true) and from (false) the host.
    std::function<void(bool to_host, const wire::Message& message)> trace;
  };

  // Connects to the host server that `endpoint` describes and runs the
  // handshake of `protocol`. With endpoint.fd set this takes the inherited
  // descriptor over if it is a socket (a non-socket is left alone): it is
  // made close-on-exec so the bridge's child does not inherit it, and closed
  // when the host is destroyed or Connect fails. Otherwise it connects to
  // PMI_PORT.
  // Errors are one line naming the host rendezvous and what to do.
  static absl::StatusOr<std::unique_ptr<PmiWireHost>> Connect(EventLoop& loop,
                                                              const HostEndpoint& endpoint,
                                                              WireProtocol protocol,
                                                              Options options);

  ~PmiWireHost() override;
  PmiWireHost(const PmiWireHost&) = delete;
  PmiWireHost& operator=(const PmiWireHost&) = delete;

  // This bridge's rank, and whether the host says it was spawned.
  int rank() const { return rank_; }
  bool spawned() const { return spawned_; }
  WireProtocol protocol() const { return protocol_; }
  // The one-line reason once the host connection was lost, else empty.
  const std::string& lost_reason() const { return lost_reason_; }
  bool finalize_acknowledged() const { return state_ == State::kFinalized; }

  // session::JobHost.
  const session::JobInfo& info() const override { return info_; }
  // Only this bridge's rank, and only once.
  absl::Status ClaimRank(int rank) override;
  void ReleaseRank(int rank) override;
  // InvalidArgument for a key or value the wire cannot carry (PMI-1: no
  // blanks; PMI-2: no ';'), without contacting the host.
  void Put(int rank, std::string key, std::string value, Done done) override;
  void Get(int rank, std::string key, GetDone done) override;
  void Barrier(int rank, Done done) override;
  // PMI-2 forwards these. PMI-1 has no node scope, so there they are kept in
  // this bridge, which serves a single rank: a get sees only this rank's
  // puts and answers NotFound at once even with `wait`.
  void PutNodeAttr(int rank, std::string key, std::string value, Done done) override;
  void GetNodeAttr(int rank, std::string key, bool wait, GetDone done) override;
  void Abort(int rank, int exit_code, std::string message) override;
  // Sends finalize upstream; Options::on_finalized fires on the answer.
  void Finalized(int rank) override;
  // Aborts the job upstream (exit code 1, `reason` as the message): a client
  // that died without finalize must end the job, as hydra and Slurm do.
  void Lost(int rank, std::string reason) override;
  // No request queued or awaiting its reply, and nothing left to write.
  bool Idle() const override;

 private:
  enum class State { kReady, kFinalizing, kFinalized, kAborted, kLost };
  using ReplyHandler = std::function<void(absl::StatusOr<wire::Message>)>;
  struct Request {
    wire::Message message;      // for the trace and for messages
    std::string bytes;          // the formatted request
    std::string reply_command;  // the only acceptable answer
    ReplyHandler on_reply;
  };

  PmiWireHost(EventLoop& loop, WireProtocol protocol, Options options);

  // Serves the host connection `fd` (after the handshake) on the loop.
  absl::Status StartWatching(UniqueFd fd);
  bool Open() const;
  void CloseConnection();

  // Queues `request`; `on_reply` gets the answer or the failure. With
  // `first` (only from a reply handler) it is sent before anything queued.
  void Call(wire::Message request, ReplyHandler on_reply, bool first = false);
  void SendNext();
  void Write(std::string bytes);
  void OnBytes(absl::string_view bytes);
  void HandleFrames();
  void OnReply(wire::Message reply);
  // The connection ended (`how`: "closed the connection", "failed (...)").
  void Closed(const std::string& how);
  // The upstream is gone: fails everything pending, then tells the owner.
  void Fail(std::string reason);
  void FailPending(const absl::Status& status);
  void SendAbort(int exit_code, absl::string_view text);
  // Why a new request cannot be sent now (finalized, lost), or OK.
  absl::Status Unusable() const;
  std::string Waiting() const;  // "waited for barrier_out", for messages
  std::string Format(const wire::Message& message) const;
  absl::Status CheckKeyValue(absl::string_view key, absl::string_view value) const;

  EventLoop& loop_;
  std::unique_ptr<net::Stream> stream_;  // the host connection
  std::string where_;                    // "PMI_FD=5" or "PMI_PORT=host:port", for messages
  bool one_read_per_request_ = false;    // Slurm PMI-1, see HandshakeResult
  WireProtocol protocol_;
  Options options_;
  session::JobInfo info_;
  int rank_ = 0;
  bool spawned_ = false;
  bool claimed_ = false;
  State state_ = State::kReady;
  std::string lost_reason_;
  wire::FrameDecoder decoder_;
  std::deque<Request> queue_;
  bool in_flight_ = false;  // queue_.front() was written and awaits its reply
  // Values this rank put or read since the last barrier. PMI promises a key
  // only once a barrier made it visible, and clients use fresh keys per
  // epoch; so a value read once is served from here until the next barrier,
  // which makes repeated gets after a fence local, as with PMIx's collected
  // data. A miss is not remembered: the key may still appear.
  absl::flat_hash_map<std::string, std::string> epoch_values_;
  // PMI-1 only: node attributes of this rank (see PutNodeAttr).
  absl::flat_hash_map<std::string, std::string> node_attrs_;
  // Set to false on destruction, so callbacks can tell whether `this` lives.
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

}  // namespace pmi_shim::upstream

#endif  // PMI_SHIM_BRIDGE_UPSTREAM_PMI_WIRE_HOST_H_
