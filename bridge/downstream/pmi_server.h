// PmiServer: serves the PMI-1/PMI-2 clients of one job from the event loop.
//
// This is the "downstream" side, where the client processes connect. It
// accepts clients three ways and gives each its own ServerSession:
//  - an already-connected socket whose rank the launcher fixed (PMI_FD);
//  - a TCP listener (PMI_PORT=host:port), where the client names its rank
//    in `initack pmiid=` or PMI-2 `fullinit`;
//  - a Unix socket path, identified the same way (for container clients).
// The protocol is detected per client from its first line.
//
// All I/O is non-blocking on the caller's EventLoop; no thread per client.
// A client whose stream is corrupt, or that breaks the protocol, is logged
// in one line and disconnected; its session then reports the loss to the
// JobHost, which decides what happens to the job.
#ifndef PMI_SHIM_BRIDGE_DOWNSTREAM_PMI_SERVER_H_
#define PMI_SHIM_BRIDGE_DOWNSTREAM_PMI_SERVER_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "bridge/session/job_host.h"
#include "bridge/session/server_session.h"
#include "common/event_loop.h"
#include "common/net/acceptor.h"
#include "common/net/retire_queue.h"
#include "common/unique_fd.h"
#include "protocol/pmi/message.h"

namespace pmi_shim::downstream {

struct ServerOptions {
  session::ClientProtocols protocols = session::ClientProtocols::kAny;
  // A client accepted on a listener must name its rank within this time or
  // it is disconnected (it cannot be holding anybody up yet). Zero: no limit.
  absl::Duration identify_timeout = absl::Seconds(30);
  // Log every request and reply at debug level.
  bool trace = false;
  // Sees every request (from_client) and reply, with the client's rank once
  // known (`pmi-bridge exec --trace FILE`).
  std::function<void(std::optional<int> rank, bool from_client, const wire::Message& message)>
      observer;
  // Runs before a client accepted on a listener is served (after its
  // credentials are checked): a host that is joined only when a client
  // first needs it connects here (exec/deferred_host.h). On error the client
  // is disconnected and the error logged.
  std::function<absl::Status()> before_serving;
};

class PmiServer {
 public:
  PmiServer(EventLoop& loop, session::JobHost& host, ServerOptions options);
  ~PmiServer();
  PmiServer(const PmiServer&) = delete;
  PmiServer& operator=(const PmiServer&) = delete;

  // Serves the client on `fd`, a connected socket that belongs to `rank`.
  absl::Status AddConnectedClient(UniqueFd fd, int rank);

  // Listens on TCP `address`:`port` (port 0: the kernel picks one) and
  // returns the port actually bound.
  absl::StatusOr<int> ListenTcp(const std::string& address, int port);

  // Listens on a Unix socket at `path` (which must not exist yet).
  absl::Status ListenUnix(const std::string& path);

  // Listens on a Unix socket at `path` whose every client is `rank`: a
  // container's rank socket. Clients must run as this process's uid (or as
  // root); one that only looks (a handshake, then hangs up) frees the rank
  // for the next, and one that names another rank is refused.
  absl::Status ListenUnixForRank(const std::string& path, int rank);

  // Reads and handles everything clients have already sent. Called before
  // judging a client process that exited, so its last words (an abort, a
  // finalize) are heard before its death is.
  void DrainAll();

  // Whether any client speaking for `rank` has sent a complete message.
  bool RankSpoke(int rank) const;

  // Closes every connection and listener (without reporting losses).
  void Shutdown();

 private:
  class Connection;

  // Watches a bound, listening socket and accepts its clients; with
  // `fixed_rank`, every client is that rank and must pass the peer rule.
  absl::Status Listen(UniqueFd listener, std::string description,
                      std::optional<int> fixed_rank = std::nullopt);
  // Runs ServerOptions::before_serving for a client accepted on `description`;
  // false (logged) when the client must not be served.
  bool ReadyToServe(const std::string& description);
  void Accepted(UniqueFd client, std::optional<int> fixed_rank);
  Connection* Register(UniqueFd fd, session::SessionOptions options);
  void Retire(uint64_t id);  // destroys a connection once its handler returned
  void MarkSpoke(int rank);

  EventLoop& loop_;
  session::JobHost& host_;
  ServerOptions options_;
  // By a serial number rather than the fd, which the kernel reuses.
  absl::flat_hash_map<uint64_t, std::unique_ptr<Connection>> connections_;
  uint64_t next_connection_id_ = 1;
  net::RetireQueue retired_;
  std::vector<std::unique_ptr<net::Acceptor>> listeners_;
  std::vector<std::string> unix_paths_;
  std::vector<bool> rank_spoke_;
};

}  // namespace pmi_shim::downstream

#endif  // PMI_SHIM_BRIDGE_DOWNSTREAM_PMI_SERVER_H_
