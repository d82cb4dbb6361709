// Acceptor: accepts the clients of a listening socket on the EventLoop and
// applies the peer policy.
//
// The rule of who may connect lives here, once: on a Unix socket that
// speaks for a rank (the bridge's pmi.sock and pmix.sock inside a rank
// directory), the client must run as this process's user or as root, as
// the kernel recorded it at connect time (SO_PEERCRED). A TCP listener on
// loopback cannot tell, and accepts anyone (kAnyone).
//
//   Acceptor::Options options;
//   options.description = path;
//   options.policy = PeerPolicy::kSameUserOrRoot;
//   ASSIGN_OR_RETURN(acceptor_, Acceptor::Start(loop, std::move(listener), options,
//                    [this](Acceptor::Client client) { Serve(std::move(client)); }));
//
// Accepted fds are non-blocking and close-on-exec. A refused client is
// closed at once and logged as one warning line.
#ifndef PMI_SHIM_COMMON_NET_ACCEPTOR_H_
#define PMI_SHIM_COMMON_NET_ACCEPTOR_H_

#include <sys/socket.h>
#include <sys/types.h>

#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "common/event_loop.h"
#include "common/unique_fd.h"

namespace pmi_shim::net {

enum class PeerPolicy {
  kAnyone,
  // SO_PEERCRED uid is this process's uid or 0 (Unix sockets only).
  kSameUserOrRoot,
};

// The uid rule of kSameUserOrRoot, pure: OK when `peer_uid` may speak for a
// process running as `own_uid`, else PermissionDenied naming both uids.
absl::Status CheckPeerUid(uid_t peer_uid, uid_t own_uid);

class Acceptor {
 public:
  struct Client {
    UniqueFd fd;
    // The kernel's record of the peer; set under kSameUserOrRoot.
    std::optional<ucred> credentials;
  };
  using AcceptHandler = std::function<void(Client client)>;

  struct Options {
    PeerPolicy policy = PeerPolicy::kAnyone;
    // The listener in messages: "/run/pmi-shim/job.0/pmi.sock", "127.0.0.1:4000".
    std::string description;
    // Appended to a refusal, after "; ": what the refused user should know.
    std::string refusal_advice = "only the job's own user may connect";
  };

  // Watches `listener` (bound and listening; owned from here on, also on
  // failure) and calls `on_accept` for every client the policy lets in.
  static absl::StatusOr<std::unique_ptr<Acceptor>> Start(EventLoop& loop, UniqueFd listener,
                                                         Options options, AcceptHandler on_accept);
  ~Acceptor();
  Acceptor(const Acceptor&) = delete;
  Acceptor& operator=(const Acceptor&) = delete;

  // Accepts every pending client now (the loop does this on EPOLLIN).
  // on_accept must not destroy the acceptor.
  void AcceptPending();

  int fd() const { return listener_.get(); }

 private:
  Acceptor(EventLoop& loop, UniqueFd listener, Options options, AcceptHandler on_accept);
  // Applies the policy; false (after logging) when `client` is refused.
  bool Admit(Client& client) const;

  EventLoop& loop_;
  UniqueFd listener_;
  Options options_;
  AcceptHandler on_accept_;
  uid_t own_uid_;
  bool watched_ = false;
};

}  // namespace pmi_shim::net

#endif  // PMI_SHIM_COMMON_NET_ACCEPTOR_H_
