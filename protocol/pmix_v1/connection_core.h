// ConnectionCore: one PMIx v1.2 client connection as a pure state machine.
//
// The endpoint feeds it the bytes read from the socket and writes out what
// it queues; the core frames messages, runs the connect exchange, decodes
// each command and hands the session one Event per request:
//
//   kHandshake ── AcceptHandshake() ──> kReady ── FINALIZE ──> kFinalized
//        └── RefuseHandshake(status) ──> kClosed
//
// A socket serves exactly one rank of one nspace (the endpoint binds it
// before the client connects), so a client that claims anything else is
// refused in the handshake. Errors the connection cannot recover from
// (a malformed or oversized header, bytes before the handshake is
// answered, a refused identity) make Feed fail: its message is one line,
// and the endpoint closes the socket. A request whose body does not
// decode, or a command this server does not implement, gets an error
// status reply under its tag (the client's call fails instead of waiting
// forever) and an Event saying why, so the endpoint can log it. Error
// handler (event) registrations are accepted without an event: this server
// never has an event to notify.
#ifndef PMI_SHIM_PROTOCOL_PMIX_V1_CONNECTION_CORE_H_
#define PMI_SHIM_PROTOCOL_PMIX_V1_CONNECTION_CORE_H_

#include <cstdint>
#include <string>
#include <variant>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "protocol/pmix_v1/header.h"
#include "protocol/pmix_v1/messages.h"

namespace pmi_shim::protocol::pmix_v1 {

struct Event {
  enum class Kind {
    kHandshake,  // `connect` holds the client's identity; answer it
    kRequest,    // a decoded command; `tag`, `command` and `body` are set
    kRefused,    // a request answered with an error status; `problem` says why
  };
  Kind kind = Kind::kRequest;
  ConnectRequest connect;
  uint32_t tag = 0;
  Command command = Command::kRequestJobInfo;
  std::variant<std::monostate, CommitRequest, FenceRequest, GetRequest, AbortRequest> body;
  std::string problem;
};

class ConnectionCore {
 public:
  enum class State { kHandshake, kAwaitingAccept, kReady, kFinalized, kClosed };

  struct Options {
    std::string nspace;  // what the client must claim
    int32_t rank = 0;
    // Largest payload a command may announce; connect messages are limited
    // to kMaxConnectBytes as in v1.2.
    uint64_t max_message_bytes = 64ull << 20;
  };

  explicit ConnectionCore(Options options) : options_(std::move(options)) {}

  // Consumes `bytes`, appending one Event per complete message. A failed
  // status means the connection is beyond repair (see above).
  absl::Status Feed(absl::string_view bytes, std::vector<Event>& events);

  // Answers the handshake event: success (the client's index is 0), or a
  // refusal after which the connection is closed.
  void AcceptHandshake();
  void RefuseHandshake(int32_t status);

  // Queues a reply payload under `tag`.
  void Reply(uint32_t tag, absl::string_view payload);

  // Bytes queued for the client since the last call.
  std::string TakeOutput();
  bool HasOutput() const { return !output_.empty(); }

  State state() const { return state_; }
  // The client's version string (after the handshake), for logs.
  const std::string& client_version() const { return client_version_; }
  const std::string& client_gds() const { return client_gds_; }

 private:
  absl::Status HandleConnect(const Header& header, absl::string_view payload,
                             std::vector<Event>& events);
  void HandleCommand(const Header& header, absl::string_view payload, std::vector<Event>& events);
  // A request whose body does not decode: refused with a reply, or without one for COMMIT.
  void RefuseUndecodable(uint32_t tag, Command command, const absl::Status& status,
                         std::vector<Event>& events);
  void Refuse(uint32_t tag, int32_t status, std::string problem, Command command,
              std::vector<Event>& events);

  Options options_;
  State state_ = State::kHandshake;
  std::string input_;
  std::string output_;
  std::string client_version_;
  std::string client_gds_;
};

}  // namespace pmi_shim::protocol::pmix_v1

#endif  // PMI_SHIM_PROTOCOL_PMIX_V1_CONNECTION_CORE_H_
