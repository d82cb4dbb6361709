#include "protocol/pmix_v1/connection_core.h"

#include <utility>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"

namespace pmi_shim::protocol::pmix_v1 {
namespace {

// The index the server hands the client; the client writes it into every
// later header. One connection per socket: always 0.
constexpr int32_t kClientIndex = 0;
// Replies carry the server's own pindex, which v1.2 servers leave at -1.
constexpr int32_t kServerPindex = -1;

// Stores a decoded request body in the event; the decoder's status says whether it could.
template <typename Request>
absl::Status StoreBody(absl::StatusOr<Request> request, Event& event) {
  absl::Status status = request.status();
  if (request.ok()) event.body = std::move(*request);
  return status;
}

// Decodes the body of a command that carries one; commands without a body decode to nothing.
absl::Status DecodeRequestBody(Command command, absl::string_view body, Event& event) {
  switch (command) {
    case Command::kCommit:
      return StoreBody(DecodeCommit(body), event);
    case Command::kFence:
      return StoreBody(DecodeFence(body), event);
    case Command::kGet:
      return StoreBody(DecodeGet(body), event);
    case Command::kAbort:
      return StoreBody(DecodeAbort(body), event);
    default:
      return absl::OkStatus();
  }
}

// Commands this server serves with a request event.
bool IsServedCommand(Command command) {
  switch (command) {
    case Command::kRequestJobInfo:
    case Command::kFinalize:
    case Command::kCommit:
    case Command::kFence:
    case Command::kGet:
    case Command::kAbort:
      return true;
    default:
      return false;
  }
}

// An error handler's registration (Open MPI 2.x registers one at init). Accepted, as its own
// era's launchers did: this server never has an event to send, and a refusal would only make
// noise.
bool IsEventRegistration(Command command) {
  return command == Command::kRegisterEvents || command == Command::kDeregisterEvents;
}

}  // namespace

absl::Status ConnectionCore::Feed(absl::string_view bytes, std::vector<Event>& events) {
  if (state_ == State::kClosed) return absl::FailedPreconditionError("the connection is closed");
  input_.append(bytes.data(), bytes.size());
  while (input_.size() >= kHeaderBytes) {
    if (state_ == State::kAwaitingAccept) {
      return absl::InvalidArgumentError("sent more before its connect message was answered");
    }
    const bool connecting = state_ == State::kHandshake;
    absl::StatusOr<Header> header =
        DecodeHeader(input_, connecting ? kMaxConnectBytes : options_.max_message_bytes);
    if (!header.ok()) {
      state_ = State::kClosed;
      return absl::InvalidArgumentError(absl::StrCat(
          connecting ? "bad connect header: " : "bad message header: ", header.status().message()));
    }
    if (input_.size() < kHeaderBytes + header->nbytes) break;  // wait for the rest
    const std::string payload = input_.substr(kHeaderBytes, header->nbytes);
    input_.erase(0, kHeaderBytes + header->nbytes);
    if (connecting) {
      if (absl::Status s = HandleConnect(*header, payload, events); !s.ok()) {
        state_ = State::kClosed;
        return s;
      }
      continue;
    }
    if (header->pindex != kClientIndex || header->tag == kConnectTag) {
      state_ = State::kClosed;
      return absl::InvalidArgumentError(absl::StrCat("malformed message header (index ",
                                                     header->pindex, ", tag ", header->tag, ")"));
    }
    if (state_ == State::kFinalized) continue;  // v1.2 servers stop listening after FINALIZE
    HandleCommand(*header, payload, events);
  }
  return absl::OkStatus();
}

absl::Status ConnectionCore::HandleConnect(const Header& header, absl::string_view payload,
                                           std::vector<Event>& events) {
  if (header.pindex != kConnectPindex || header.tag != kConnectTag) {
    return absl::InvalidArgumentError(
        absl::StrCat("the first message is not a PMIx v1 connect (index ", header.pindex, ", tag ",
                     header.tag, ")"));
  }
  absl::StatusOr<ConnectRequest> request = DecodeConnectRequest(payload);
  if (!request.ok()) {
    output_ += EncodeConnectReply(kErrBadParam, 0);
    return absl::InvalidArgumentError(
        absl::StrCat("bad connect message: ", request.status().message()));
  }
  if (request->nspace != options_.nspace || request->rank != options_.rank) {
    output_ += EncodeConnectReply(kErrInvalidNamespace, 0);
    return absl::PermissionDeniedError(
        absl::StrCat("a client claimed rank ", request->rank, " of nspace \"",
                     absl::CHexEscape(request->nspace), "\" on the socket of rank ", options_.rank,
                     " of nspace \"", options_.nspace, "\"; refused"));
  }
  client_version_ = request->version;
  client_gds_ = request->gds;
  state_ = State::kAwaitingAccept;
  Event event;
  event.kind = Event::Kind::kHandshake;
  event.connect = std::move(*request);
  events.push_back(std::move(event));
  return absl::OkStatus();
}

void ConnectionCore::AcceptHandshake() {
  if (state_ != State::kAwaitingAccept) return;
  output_ += EncodeConnectReply(kSuccess, kClientIndex);
  state_ = State::kReady;
}

void ConnectionCore::RefuseHandshake(int32_t status) {
  if (state_ != State::kAwaitingAccept) return;
  output_ += EncodeConnectReply(status == kSuccess ? kError : status, 0);
  state_ = State::kClosed;
}

void ConnectionCore::Reply(uint32_t tag, absl::string_view payload) {
  if (state_ == State::kClosed) return;
  output_ += EncodeMessage(kServerPindex, tag, payload);
}

std::string ConnectionCore::TakeOutput() { return std::exchange(output_, std::string()); }

void ConnectionCore::Refuse(uint32_t tag, int32_t status, std::string problem, Command command,
                            std::vector<Event>& events) {
  Reply(tag, EncodeStatusReply(status));
  Event event;
  event.kind = Event::Kind::kRefused;
  event.tag = tag;
  event.command = command;
  event.problem = std::move(problem);
  events.push_back(std::move(event));
}

void ConnectionCore::RefuseUndecodable(uint32_t tag, Command command, const absl::Status& status,
                                       std::vector<Event>& events) {
  // COMMIT has no reply to carry an error; the others get one.
  if (command == Command::kCommit) {
    Event refused;
    refused.kind = Event::Kind::kRefused;
    refused.tag = tag;
    refused.command = command;
    refused.problem = absl::StrCat("undecodable commit: ", status.message());
    events.push_back(std::move(refused));
    return;
  }
  Refuse(tag, kErrBadParam, absl::StrCat("undecodable request: ", status.message()), command,
         events);
}

void ConnectionCore::HandleCommand(const Header& header, absl::string_view payload,
                                   std::vector<Event>& events) {
  absl::StatusOr<std::pair<Command, absl::string_view>> decoded = DecodeCommand(payload);
  if (!decoded.ok()) {
    Refuse(header.tag, kErrBadParam,
           absl::StrCat("undecodable command: ", decoded.status().message()),
           Command::kRequestJobInfo, events);
    return;
  }
  const auto [command, body] = *decoded;
  if (IsEventRegistration(command)) {
    Reply(header.tag, EncodeStatusReply(kSuccess));
    return;
  }
  if (!IsServedCommand(command)) {
    // Publish/lookup, spawn, connect, notify: nothing an MPI library of
    // the v1.2 era needs to start and run a static job.
    Refuse(header.tag, kErrNotSupported,
           absl::StrCat("command ", static_cast<uint32_t>(command), " is not supported"), command,
           events);
    return;
  }
  Event event;
  event.kind = Event::Kind::kRequest;
  event.tag = header.tag;
  event.command = command;
  if (absl::Status status = DecodeRequestBody(command, body, event); !status.ok()) {
    RefuseUndecodable(header.tag, command, status, events);
    return;
  }
  if (command == Command::kFinalize) state_ = State::kFinalized;
  events.push_back(std::move(event));
}

}  // namespace pmi_shim::protocol::pmix_v1
