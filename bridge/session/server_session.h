// ServerSession: the server side of one PMI-1 or PMI-2 client connection.
//
// The session is the protocol engine between the wire codec and the job:
// it takes decoded frames from one client, keeps that client's protocol
// state (identity, init, finalize), validates requests against the PMI
// limits, turns them into JobHost operations and formats the replies in the
// superset forms that every known client accepts (reference/protocols.md §7).
// It does no I/O: bytes go out through `send`, problems through `warn`.
//
//   auto session = ServerSession::Create(host, {.rank = 3}, callbacks);
//   absl::Status s = session->HandleFrame(frame);   // per decoded frame
//   if (!s.ok()) { log(s.message()); close(); session->Close(s.message()); }
//
// Error model. A request the client may recover from (a put before init, a
// value over the limit, a second init) gets a reply with a non-zero rc and a
// one-line `warn`. A stream that can no longer be trusted (malformed line,
// unknown command, identity problems) makes HandleFrame return an error
// whose message is one line naming the client ("rank 3: ..."); the caller
// then closes the connection and calls Close(), which reports the loss to
// the job. Hydra aborts a job in the same situations.
//
// Ordering. PMI is strictly request/response. While a deferred reply
// (barrier, fence, a waiting get) is outstanding, later frames are queued
// and handled in order once it is sent, so replies never overtake each other.
#ifndef PMI_SHIM_BRIDGE_SESSION_SERVER_SESSION_H_
#define PMI_SHIM_BRIDGE_SESSION_SERVER_SESSION_H_

#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "bridge/session/job_host.h"
#include "protocol/pmi/commands.h"
#include "protocol/pmi/frame_decoder.h"
#include "protocol/pmi/message.h"

namespace pmi_shim::session {

// Which client protocols a server accepts (`--protocol`).
enum class ClientProtocols { kAny, kPmi1Only, kPmi2Only };

struct SessionOptions {
  // The client's rank when the transport fixes it (PMI_FD); otherwise the
  // client must name itself (PMI-1 `initack pmiid=`, PMI-2 `fullinit`).
  std::optional<int> rank;
  // How to name the client in messages until its rank is known.
  std::string peer = "client";
  ClientProtocols protocols = ClientProtocols::kAny;
  // A client that hangs up after only looking (init and read-only queries)
  // releases its rank instead of being reported lost: on a container's rank
  // socket `pmi-shim-client check` handshakes before the application does.
  bool release_if_only_looked = false;
};

struct SessionCallbacks {
  // Writes bytes to the client, in order.
  std::function<void(std::string bytes)> send;
  // A client-side problem that did not end the session (one line).
  std::function<void(absl::string_view problem)> warn;
  // The session cannot go on (one line naming the client): the owner logs it
  // and closes the connection. Used for failures found while handling
  // requests that were queued behind a deferred reply; failures of the frame
  // passed to HandleFrame are returned from it instead.
  std::function<void(absl::string_view reason)> fail;
  // Optional wire trace: each decoded request and each reply.
  std::function<void(bool from_client, const wire::Message& message)> trace;
};

class ServerSession : public std::enable_shared_from_this<ServerSession> {
 public:
  static std::shared_ptr<ServerSession> Create(JobHost& host, SessionOptions options,
                                               SessionCallbacks callbacks);

  // Handles one frame from the client. An error means the connection must be
  // closed; its message is one line that names the client.
  absl::Status HandleFrame(const wire::Frame& frame);

  // The connection is gone (EOF, error, or closed after HandleFrame failed).
  // Reports the loss to the job unless the client finalized or never
  // claimed a rank; returns whether it did (the job then reports `reason`,
  // so the caller need not). Idempotent.
  bool Close(absl::string_view reason);

  std::optional<int> rank() const { return rank_; }
  bool finalized() const { return state_ == State::kFinalized; }
  // "rank 3", or the peer description while the rank is unknown.
  std::string Who() const;

 private:
  enum class State {
    kAwaitingInit,      // nothing but initack / init yet
    kAwaitingFullinit,  // PMI-2 init line done, record-framed fullinit next
    kReady,             // initialized (PMI-1 init or PMI-2 fullinit)
    kFinalized,
    kClosed,
  };
  enum class Protocol { kUnknown, kPmi1, kPmi2 };

  ServerSession(JobHost& host, SessionOptions options, SessionCallbacks callbacks);

  absl::Status Dispatch(const wire::Frame& frame);
  absl::Status HandlePmi1(const wire::Message& request);
  absl::Status HandlePmi2(const wire::Message& request);

  // An initialized client's request of `version`, answered by one of the
  // handlers below; nullptr for a request this server does not offer.
  using Handler = void (ServerSession::*)(const wire::Message& request);
  static Handler HandlerFor(wire::PmiVersion version, absl::string_view request);

  // PMI-1 handlers.
  absl::Status OnInitack(const wire::Message& request);
  absl::Status OnInit(const wire::Message& request);
  void OnGetMaxes(const wire::Message& request);
  void OnGetAppnum(const wire::Message& request);
  void OnGetUniverseSize(const wire::Message& request);
  void OnGetMyKvsname(const wire::Message& request);
  void OnPut(const wire::Message& request);
  void OnGet(const wire::Message& request);
  void OnBarrierIn(const wire::Message& request);
  void OnAbort(const wire::Message& request);
  // Either version: finalize_ack or finalize-response.
  void OnFinalize(const wire::Message& request);

  // PMI-2 handlers.
  absl::Status OnFullinit(const wire::Message& request);
  void OnJobGetid(const wire::Message& request);
  void OnKvsPut(const wire::Message& request);
  void OnKvsGet(const wire::Message& request);
  void OnKvsFence(const wire::Message& request);
  void OnGetJobAttr(const wire::Message& request);
  void OnPutNodeAttr(const wire::Message& request);
  void OnGetNodeAttr(const wire::Message& request);

  // Claims `rank` for this client, checking it against the transport's.
  absl::Status Identify(int64_t rank, absl::string_view how);
  // Checks a key (and value) against the advertised limits; empty if fine.
  std::string CheckKeyValue(absl::string_view key, absl::string_view value) const;

  void Reply(wire::Message reply);
  void Warn(absl::string_view problem);
  // Starts/finishes a reply that arrives later (see "Ordering" above).
  void BeginDeferred() { deferred_ = true; }
  void FinishDeferred(wire::Message reply);
  // Wraps a deferred completion so it is dropped if the session is gone.
  template <typename Fn>
  auto Guard(Fn fn);

  JobHost& host_;
  SessionOptions options_;
  SessionCallbacks callbacks_;
  State state_ = State::kAwaitingInit;
  Protocol protocol_ = Protocol::kUnknown;
  std::optional<int> rank_;
  bool rank_claimed_ = false;
  // Whether the client sent anything beyond init and read-only queries.
  bool changed_job_state_ = false;
  bool deferred_ = false;
  std::deque<wire::Frame> backlog_;
  // The PMI-2 `thrid` of the request being answered; echoed in its reply.
  std::optional<std::string> thread_id_;
};

}  // namespace pmi_shim::session

#endif  // PMI_SHIM_BRIDGE_SESSION_SERVER_SESSION_H_
