// PmiWireHost: the request FIFO over the watched socket, and the JobHost
// operations as requests in each protocol (see pmi_wire_host.h for the
// contract). Connecting and the handshake are in pmi_wire_handshake.cc.
#include "bridge/upstream/pmi_wire_host.h"

#include <cerrno>
#include <cstring>
#include <optional>
#include <utility>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "bridge/upstream/pmi_wire_handshake.h"
#include "bridge/upstream/pmi_wire_replies.h"
#include "common/status_macros.h"
#include "protocol/pmi/pmi1.h"
#include "protocol/pmi/pmi2.h"

namespace pmi_shim::upstream {
namespace {

using pmi_wire_internal::Excerpt;
using pmi_wire_internal::FoundValue;
using pmi_wire_internal::HandshakeResult;
using pmi_wire_internal::kMaxPmi1RequestBytes;
using pmi_wire_internal::RcStatus;
using pmi_wire_internal::ReplyCommandFor;
using wire::Message;

// The text of an abort, made safe for the wire: one line, and for PMI-2 no
// ';' (values are not escaped). Long texts are cut to fit a 1024-byte read.
std::string AbortText(absl::string_view text, WireProtocol protocol) {
  std::string out(text.substr(0, 900));
  for (char& c : out) {
    if (c == '\n' || c == '\r' || c == '\0') c = ' ';
    if (c == ';' && protocol == WireProtocol::kPmi2) c = ',';
  }
  return out;
}

}  // namespace

// ------------------------------------------------------------ PmiWireHost --

absl::StatusOr<std::unique_ptr<PmiWireHost>> PmiWireHost::Connect(EventLoop& loop,
                                                                  const HostEndpoint& endpoint,
                                                                  WireProtocol protocol,
                                                                  Options options) {
  if (endpoint.family != HostFamily::kPmiWire ||
      (!endpoint.fd.has_value() && !(endpoint.port.has_value() && endpoint.port_host.has_value() &&
                                     (endpoint.id.has_value() || endpoint.rank.has_value())))) {
    return absl::InvalidArgumentError(
        "PmiWireHost needs a PMI_FD, or a PMI_PORT with PMI_ID or PMI_RANK");
  }
  const absl::Time deadline = absl::Now() + options.handshake_timeout;
  ASSIGN_OR_RETURN(UniqueFd fd, pmi_wire_internal::OpenHostConnection(endpoint, deadline));
  ASSIGN_OR_RETURN(
      HandshakeResult result,
      pmi_wire_internal::Handshake(fd.get(), endpoint, protocol, deadline, options.trace));
  std::unique_ptr<PmiWireHost> host(new PmiWireHost(loop, protocol, std::move(options)));
  host->info_ = std::move(result.info);
  host->rank_ = result.rank;
  host->spawned_ = result.spawned;
  host->where_ = endpoint.Describe();
  host->one_read_per_request_ = result.one_read_per_request;
  RETURN_IF_ERROR(host->StartWatching(std::move(fd)));
  return host;
}

PmiWireHost::PmiWireHost(EventLoop& loop, WireProtocol protocol, Options options)
    : loop_(loop), protocol_(protocol), options_(std::move(options)) {}

PmiWireHost::~PmiWireHost() {
  *alive_ = false;
  CloseConnection();
}

absl::Status PmiWireHost::StartWatching(UniqueFd fd) {
  net::Stream::Handlers handlers;
  handlers.on_data = [this](absl::string_view bytes) { OnBytes(bytes); };
  handlers.on_eof = [this] { Closed("closed the connection"); };
  handlers.on_error = [this](const net::Stream::Error& error) {
    const bool write = error.operation == net::Stream::Error::Operation::kWrite;
    Closed(absl::StrCat(write ? "failed a write (" : "failed (", std::strerror(error.error_number),
                        ")"));
  };
  ASSIGN_OR_RETURN(stream_, net::Stream::Start(loop_, std::move(fd), std::move(handlers)));
  return absl::OkStatus();
}

bool PmiWireHost::Open() const { return stream_ != nullptr && stream_->open(); }

void PmiWireHost::CloseConnection() {
  if (stream_ != nullptr) stream_->Close();
}

// ------------------------------------------------------------ JobHost --

absl::Status PmiWireHost::ClaimRank(int rank) {
  if (rank < 0 || rank >= info_.size) {
    return absl::OutOfRangeError(
        absl::StrCat("rank ", rank, " is outside the job (size ", info_.size, ")"));
  }
  if (rank != rank_) {
    return absl::PermissionDeniedError(
        absl::StrCat("this pmi-bridge exec serves rank ", rank_, " only, not rank ", rank,
                     "; the container's PMI_RANK/PMI_ID must be the launcher's"));
  }
  if (claimed_) {
    return absl::FailedPreconditionError(absl::StrCat(
        "rank ", rank, " is already connected; pmi-bridge exec serves one PMI client per rank"));
  }
  claimed_ = true;
  return absl::OkStatus();
}

void PmiWireHost::ReleaseRank(int rank) {
  if (rank == rank_) claimed_ = false;
}

absl::Status PmiWireHost::CheckKeyValue(absl::string_view key, absl::string_view value) const {
  // PMI-1 fields end at a blank and keys at '='; PMI-2 tokens end at ';'
  // and neither side unescapes (protocols.md §1.2, §2.3).
  const bool pmi1 = protocol_ == WireProtocol::kPmi1;
  const absl::string_view key_forbidden =
      pmi1 ? absl::string_view(" \t\r\n=\0", 6) : absl::string_view(";=\n\0", 4);
  const absl::string_view value_forbidden =
      pmi1 ? absl::string_view(" \t\r\n\0", 5) : absl::string_view(";\0", 2);
  if (key.empty() || key.find_first_of(key_forbidden) != absl::string_view::npos) {
    return absl::InvalidArgumentError(absl::StrCat(
        "key \"", absl::CEscape(key), "\" cannot be sent over ", WireProtocolName(protocol_),
        " (keys must be non-empty, without blanks, '=' or ';')"));
  }
  if (value.find_first_of(value_forbidden) != absl::string_view::npos) {
    return absl::InvalidArgumentError(
        absl::StrCat("the value of key ", key, " holds ", pmi1 ? "a blank" : "a ';'", ", which ",
                     WireProtocolName(protocol_), " cannot carry; encode values (e.g. as hex)"));
  }
  return absl::OkStatus();
}

void PmiWireHost::Put(int rank, std::string key, std::string value, Done done) {
  if (absl::Status valid = CheckKeyValue(key, value); !valid.ok()) {
    done(valid);
    return;
  }
  Message request = protocol_ == WireProtocol::kPmi1 ? Message("put").Add("kvsname", info_.kvsname)
                                                     : Message("kvs-put");
  request.Add("key", key).Add("value", value);
  epoch_values_[key] = value;  // a rank sees its own puts at once
  Call(std::move(request), [this, done = std::move(done), key](absl::StatusOr<Message> reply) {
    absl::Status status =
        reply.ok() ? RcStatus(*reply, absl::StrCat("the put of key ", key)) : reply.status();
    if (!status.ok()) epoch_values_.erase(key);
    done(status);
  });
}

void PmiWireHost::Get(int rank, std::string key, GetDone done) {
  if (key == "PMI_process_mapping") {  // re-encoded at Connect; serve that copy
    if (info_.process_mapping.has_value()) {
      done(*info_.process_mapping);
    } else {
      done(absl::NotFoundError("the host server gives no PMI_process_mapping"));
    }
    return;
  }
  if (absl::Status valid = CheckKeyValue(key, ""); !valid.ok()) {
    done(absl::NotFoundError(valid.message()));
    return;
  }
  if (auto cached = epoch_values_.find(key); cached != epoch_values_.end()) {
    done(cached->second);
    return;
  }
  Message request =
      protocol_ == WireProtocol::kPmi1
          ? Message("get").Add("kvsname", info_.kvsname).Add("key", key)
          : Message("kvs-get").Add("jobid", info_.kvsname).Add("srcid", -1).Add("key", key);
  Call(std::move(request), [this, done = std::move(done), key](absl::StatusOr<Message> reply) {
    if (!reply.ok()) {
      done(reply.status());
    } else if (std::optional<std::string> value = FoundValue(*reply)) {
      epoch_values_[key] = *value;
      done(*std::move(value));
    } else {
      done(absl::NotFoundError(absl::StrCat("key ", key, " not found at the host")));
    }
  });
}

void PmiWireHost::Barrier(int rank, Done done) {
  // From here on a get belongs to the next epoch (it is queued behind the
  // barrier), so nothing of this one may answer it.
  epoch_values_.clear();
  if (protocol_ == WireProtocol::kPmi1) {
    Call(Message("barrier_in"), [this, done = std::move(done)](absl::StatusOr<Message> reply) {
      epoch_values_.clear();  // a new epoch: every rank may have put again
      done(reply.ok() ? RcStatus(*reply, "the barrier") : reply.status());
    });
    return;
  }
  // Hydra answers kvs-fence at once and holds the next get until every rank
  // fenced; MPICH's PMI-2 barrier is this pair (protocols.md §2.6).
  Call(Message("kvs-fence"), [this, done = std::move(done)](absl::StatusOr<Message> fenced) {
    absl::Status status = fenced.ok() ? RcStatus(*fenced, "kvs-fence") : fenced.status();
    if (!status.ok()) {
      done(status);
      return;
    }
    // Sent next, before anything queued meanwhile (a finalize, say).
    Call(
        Message("kvs-get").Add("jobid", info_.kvsname).Add("srcid", -1).Add("key", "-NONEXIST-KEY"),
        [this, done](absl::StatusOr<Message> got) {
          epoch_values_.clear();  // a new epoch: every rank may have put again
          done(got.ok() ? absl::OkStatus() : got.status());
        },
        /*first=*/true);
  });
}

void PmiWireHost::PutNodeAttr(int rank, std::string key, std::string value, Done done) {
  if (absl::Status valid = CheckKeyValue(key, value); !valid.ok()) {
    done(valid);
    return;
  }
  if (protocol_ == WireProtocol::kPmi1) {
    node_attrs_[std::move(key)] = std::move(value);
    done(absl::OkStatus());
    return;
  }
  Call(Message("info-putnodeattr").Add("key", key).Add("value", value),
       [done = std::move(done), key](absl::StatusOr<Message> reply) {
         done(reply.ok() ? RcStatus(*reply, absl::StrCat("node attribute ", key)) : reply.status());
       });
}

void PmiWireHost::GetNodeAttr(int rank, std::string key, bool wait, GetDone done) {
  if (protocol_ == WireProtocol::kPmi1) {
    auto it = node_attrs_.find(key);
    if (it != node_attrs_.end()) {
      done(it->second);
    } else {
      done(absl::NotFoundError(
          absl::StrCat("node attribute ", key,
                       " not found (a PMI-1 host has no node scope; use "
                       "--upstream pmi2 for node attributes shared between ranks)")));
    }
    return;
  }
  Call(Message("info-getnodeattr").Add("key", key).Add("wait", wait ? "TRUE" : "FALSE"),
       [done = std::move(done), key](absl::StatusOr<Message> reply) {
         if (!reply.ok()) {
           done(reply.status());
         } else if (std::optional<std::string> value = FoundValue(*reply)) {
           done(*std::move(value));
         } else {
           done(absl::NotFoundError(absl::StrCat("node attribute ", key, " not found")));
         }
       });
}

void PmiWireHost::Abort(int rank, int exit_code, std::string message) {
  SendAbort(exit_code, message);
}

void PmiWireHost::Finalized(int rank) {
  if (state_ != State::kReady) return;
  Call(Message("finalize"), [this](absl::StatusOr<Message> reply) {
    if (!reply.ok()) return;  // the loss is reported on its own
    state_ = State::kFinalized;
    if (options_.on_finalized) options_.on_finalized();
  });
  if (state_ == State::kReady) state_ = State::kFinalizing;
}

void PmiWireHost::Lost(int rank, std::string reason) { SendAbort(1, reason); }

bool PmiWireHost::Idle() const {
  return queue_.empty() && !in_flight_ && (stream_ == nullptr || stream_->pending_bytes() == 0);
}

void PmiWireHost::SendAbort(int exit_code, absl::string_view text) {
  if (state_ == State::kLost || state_ == State::kAborted || !Open()) return;
  const std::string safe = AbortText(text, protocol_);
  Message abort("abort");
  if (protocol_ == WireProtocol::kPmi1) {
    // Hydra and MPICH read exitcode/message; a message with spaces must be
    // the last field (Flux reads it to the end of the line).
    abort.Add("exitcode", exit_code);
    if (!safe.empty()) abort.Add("message", safe);
  } else {
    // Slurm kills the step only with isworld=TRUE and reads msg; hydra and
    // new MPICH read exitcode and message. Nobody minds the others.
    abort.Add("isworld", "TRUE").Add("exitcode", exit_code).Add("msg", safe).Add("message", safe);
  }
  state_ = State::kAborted;
  if (options_.trace) options_.trace(true, abort);
  Write(Format(abort));  // jumps the queue: pending requests may never be answered now
  FailPending(absl::UnavailableError(absl::StrCat("rank ", rank_, " aborted the job")));
}

// ------------------------------------------------------- the request FIFO --

absl::Status PmiWireHost::Unusable() const {
  switch (state_) {
    case State::kLost:
      return absl::UnavailableError(lost_reason_);
    case State::kAborted:
      return absl::UnavailableError(absl::StrCat("rank ", rank_, " aborted the job"));
    case State::kFinalized:
      return absl::FailedPreconditionError(absl::StrCat("rank ", rank_, " already finalized"));
    case State::kReady:
    case State::kFinalizing:
      break;
  }
  return absl::OkStatus();
}

std::string PmiWireHost::Format(const Message& message) const {
  return protocol_ == WireProtocol::kPmi1 ? wire::FormatPmi1(message) : wire::FormatPmi2(message);
}

void PmiWireHost::Call(Message request, ReplyHandler on_reply, bool first) {
  if (absl::Status usable = Unusable(); !usable.ok()) {
    on_reply(usable);
    return;
  }
  std::string bytes = Format(request);
  if (one_read_per_request_ && bytes.size() > kMaxPmi1RequestBytes) {
    on_reply(absl::InvalidArgumentError(absl::StrCat(
        request.command, " would be a ", bytes.size(), "-byte PMI-1 line; the host reads at most ",
        kMaxPmi1RequestBytes + 1, " bytes per request (Slurm), so keep values under ",
        info_.limits.vallen_max, " bytes")));
    return;
  }
  std::string reply_command = ReplyCommandFor(protocol_, request.command);
  Request queued{std::move(request), std::move(bytes), std::move(reply_command),
                 std::move(on_reply)};
  if (first && !in_flight_) {
    queue_.push_front(std::move(queued));
  } else {
    queue_.push_back(std::move(queued));
  }
  SendNext();
}

void PmiWireHost::SendNext() {
  if (in_flight_ || queue_.empty() || !Open()) return;
  in_flight_ = true;
  if (options_.trace) options_.trace(true, queue_.front().message);
  Write(queue_.front().bytes);
}

void PmiWireHost::Write(std::string bytes) {
  if (Open()) stream_->Write(bytes);
}

void PmiWireHost::OnBytes(absl::string_view bytes) {
  if (state_ == State::kAborted || state_ == State::kFinalized) return;  // nothing expected
  decoder_.Feed(bytes);
  HandleFrames();
}

void PmiWireHost::HandleFrames() {
  std::shared_ptr<bool> alive = alive_;
  while (*alive && Open()) {
    absl::StatusOr<std::optional<wire::Frame>> frame = decoder_.Next();
    if (frame.ok() && !frame->has_value()) return;  // the rest has not arrived yet
    absl::StatusOr<Message> reply = frame.ok() ? wire::ParseFrame(**frame) : frame.status();
    if (!reply.ok()) {
      Fail(absl::StrCat("host PMI server at ", where_, " sent a malformed message (",
                        reply.status().message(), "); it does not speak ",
                        WireProtocolName(protocol_), " as expected"));
      return;
    }
    OnReply(*std::move(reply));
  }
}

void PmiWireHost::OnReply(Message reply) {
  if (options_.trace) options_.trace(false, reply);
  if (!in_flight_ || queue_.empty()) {
    Fail(absl::StrCat("host PMI server at ", where_, " sent \"", Excerpt(reply),
                      "\" unasked; it does not follow the PMI request/response protocol"));
    return;
  }
  if (reply.command != queue_.front().reply_command) {
    Fail(absl::StrCat("host PMI server at ", where_, " answered ", queue_.front().message.command,
                      " with \"", Excerpt(reply),
                      "\" instead of cmd=", queue_.front().reply_command, "; it does not speak ",
                      WireProtocolName(protocol_), " as expected"));
    return;
  }
  Request answered = std::move(queue_.front());
  queue_.pop_front();
  in_flight_ = false;
  std::shared_ptr<bool> alive = alive_;
  answered.on_reply(std::move(reply));  // may queue a follow-up first in line
  if (*alive) SendNext();
}

std::string PmiWireHost::Waiting() const {
  if (queue_.empty()) return "was idle";
  return absl::StrCat("waited for ", queue_.front().reply_command);
}

void PmiWireHost::Closed(const std::string& how) {
  const bool finalize_in_flight = state_ == State::kFinalizing && queue_.size() == 1 &&
                                  queue_.front().message.command == "finalize";
  if (state_ == State::kAborted || state_ == State::kFinalized || finalize_in_flight) {
    // Expected: hydra and Slurm close the connection after finalize and end
    // the job after an abort.
    CloseConnection();
    if (finalize_in_flight) {
      queue_.clear();
      in_flight_ = false;
      state_ = State::kFinalized;
      if (options_.on_finalized) options_.on_finalized();
    }
    return;
  }
  Fail(absl::StrCat("host PMI server at ", where_, " ", how, " while rank ", rank_, " ", Waiting(),
                    "; the launcher ended the job or died (see its output for the "
                    "first failure)"));
}

void PmiWireHost::Fail(std::string reason) {
  if (state_ == State::kLost) return;
  state_ = State::kLost;
  lost_reason_ = reason;
  CloseConnection();
  std::shared_ptr<bool> alive = alive_;
  FailPending(absl::UnavailableError(reason));
  if (*alive && options_.on_upstream_lost) options_.on_upstream_lost(std::move(reason));
}

void PmiWireHost::FailPending(const absl::Status& status) {
  std::deque<Request> pending;
  pending.swap(queue_);
  in_flight_ = false;
  std::shared_ptr<bool> alive = alive_;
  for (Request& request : pending) {
    request.on_reply(status);
    if (!*alive) return;
  }
}

}  // namespace pmi_shim::upstream
