#include "bridge/session/server_session.h"

#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "protocol/pmi/commands.h"
#include "protocol/pmi/pmi1.h"
#include "protocol/pmi/pmi2.h"

namespace pmi_shim::session {
namespace {

using wire::CommandSpec;
using wire::Message;
using wire::PmiVersion;
using wire::rc::kErrInit;
using wire::rc::kErrInvalidKey;
using wire::rc::kErrInvalidKeyLength;
using wire::rc::kErrInvalidValLength;
using wire::rc::kFail;

Message Pmi2Response(absl::string_view request, int rc) {
  Message reply(wire::ReplyCommandFor(PmiVersion::kPmi2, request));
  reply.Add("rc", rc);
  return reply;
}

// Abort text and code: MPICH sends exitcode/message, Flux's client
// exit_code/error_msg, Slurm's libpmi2 isworld/msg (no code: PMI-2 default 1).
std::pair<int, std::string> AbortDetails(const Message& request) {
  int code = 1;
  for (const char* key : {"exitcode", "exit_code"}) {
    if (std::optional<int64_t> value = request.FindInt(key)) {
      code = static_cast<int>(*value);
      break;
    }
  }
  std::string text;
  for (const char* key : {"message", "error_msg", "msg"}) {
    if (std::optional<absl::string_view> value = request.Find(key)) {
      text = std::string(*value);
      break;
    }
  }
  return {code, text};
}

}  // namespace

template <typename Fn>
auto ServerSession::Guard(Fn fn) {
  return [weak = weak_from_this(), fn = std::move(fn)](auto&&... args) {
    std::shared_ptr<ServerSession> self = weak.lock();
    if (self == nullptr || self->state_ == State::kClosed) return;  // client gone
    fn(*self, std::forward<decltype(args)>(args)...);
  };
}

std::shared_ptr<ServerSession> ServerSession::Create(JobHost& host, SessionOptions options,
                                                     SessionCallbacks callbacks) {
  return std::shared_ptr<ServerSession>(
      new ServerSession(host, std::move(options), std::move(callbacks)));
}

ServerSession::ServerSession(JobHost& host, SessionOptions options, SessionCallbacks callbacks)
    : host_(host), options_(std::move(options)), callbacks_(std::move(callbacks)) {
  rank_ = options_.rank;
}

std::string ServerSession::Who() const {
  return rank_.has_value() ? absl::StrCat("rank ", *rank_) : options_.peer;
}

absl::Status ServerSession::HandleFrame(const wire::Frame& frame) {
  if (state_ == State::kClosed) return absl::OkStatus();
  if (deferred_) {
    backlog_.push_back(frame);
    return absl::OkStatus();
  }
  absl::Status status = Dispatch(frame);
  while (status.ok() && !deferred_ && !backlog_.empty() && state_ != State::kClosed) {
    wire::Frame next = std::move(backlog_.front());
    backlog_.pop_front();
    status = Dispatch(next);
  }
  return status;
}

absl::Status ServerSession::Dispatch(const wire::Frame& frame) {
  absl::StatusOr<Message> request = wire::ParseFrame(frame);
  if (!request.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat(Who(), ": malformed PMI message (", request.status().message(),
                     "); the client library does not speak PMI-1/PMI-2 as this server does"));
  }
  if (callbacks_.trace) callbacks_.trace(true, *request);
  if (!wire::IsReadOnlyRequest(request->command)) changed_job_state_ = true;
  thread_id_.reset();
  if (frame.framing == wire::Framing::kPmi2Record) return HandlePmi2(*request);
  return HandlePmi1(*request);
}

void ServerSession::Reply(Message reply) {
  if (state_ == State::kClosed) return;
  const bool pmi2 = protocol_ == Protocol::kPmi2 && state_ != State::kAwaitingInit &&
                    reply.command != "response_to_init";
  if (pmi2 && thread_id_.has_value()) {
    reply.fields.insert(reply.fields.begin(), {"thrid", *thread_id_});
  }
  if (callbacks_.trace) callbacks_.trace(false, reply);
  callbacks_.send(pmi2 ? wire::FormatPmi2(reply) : wire::FormatPmi1(reply));
}

void ServerSession::FinishDeferred(Message reply) {
  deferred_ = false;
  Reply(std::move(reply));
  // Requests that arrived while this one waited are handled now, in order.
  while (!deferred_ && !backlog_.empty() && state_ != State::kClosed) {
    wire::Frame next = std::move(backlog_.front());
    backlog_.pop_front();
    absl::Status status = Dispatch(next);
    if (!status.ok()) {
      if (callbacks_.fail) callbacks_.fail(status.message());  // closes the session
      return;
    }
  }
}

void ServerSession::Warn(absl::string_view problem) {
  if (callbacks_.warn) callbacks_.warn(problem);
}

bool ServerSession::Close(absl::string_view reason) {
  if (state_ == State::kClosed) return false;
  const bool only_looked = options_.release_if_only_looked && !changed_job_state_;
  const bool lost = rank_claimed_ && state_ != State::kFinalized && !only_looked;
  state_ = State::kClosed;
  backlog_.clear();
  if (rank_claimed_ && only_looked) host_.ReleaseRank(*rank_);
  if (lost) host_.Lost(*rank_, std::string(reason));
  return lost;
}

absl::Status ServerSession::Identify(int64_t rank, absl::string_view how) {
  if (rank_claimed_) {
    if (rank != *rank_) {
      return absl::PermissionDeniedError(absl::StrCat(Who(), ": claims to be rank ", rank, " in ",
                                                      how, " but its connection belongs to rank ",
                                                      *rank_, "; check PMI_RANK/PMI_ID"));
    }
    return absl::OkStatus();
  }
  if (rank_.has_value() && rank != *rank_) {
    return absl::PermissionDeniedError(
        absl::StrCat(Who(), ": claims to be rank ", rank, " in ", how,
                     " but its connection (PMI_FD or rank socket) belongs to rank ", *rank_,
                     "; check that PMI_RANK was not changed"));
  }
  if (rank < 0 || rank >= host_.info().size) {
    return absl::OutOfRangeError(absl::StrCat(Who(), ": ", how, " names rank ", rank,
                                              " but the job has ", host_.info().size,
                                              " ranks; check PMI_ID/PMI_RANK"));
  }
  absl::Status claimed = host_.ClaimRank(static_cast<int>(rank));
  if (!claimed.ok()) {
    return absl::Status(claimed.code(), absl::StrCat(Who(), ": ", claimed.message()));
  }
  rank_ = static_cast<int>(rank);
  rank_claimed_ = true;
  return absl::OkStatus();
}

std::string ServerSession::CheckKeyValue(absl::string_view key, absl::string_view value) const {
  const PmiLimits& limits = host_.info().limits;
  if (key.empty()) return "empty key";
  if (key.size() > static_cast<size_t>(limits.keylen_max)) {
    return absl::StrCat("key too long (", key.size(), " bytes, limit ", limits.keylen_max, ")");
  }
  if (value.size() > static_cast<size_t>(limits.vallen_max)) {
    return absl::StrCat("value of key ", key, " too long (", value.size(), " bytes, limit ",
                        limits.vallen_max, "); split large values into several keys");
  }
  return "";
}

// The handlers of an initialized client's requests, one per request of the
// command table (protocol/pmi/commands.h) that this server offers.
ServerSession::Handler ServerSession::HandlerFor(PmiVersion version, absl::string_view request) {
  static constexpr struct {
    PmiVersion version;
    const char* request;
    Handler handle;
  } kHandlers[] = {
      {PmiVersion::kPmi1, "get_maxes", &ServerSession::OnGetMaxes},
      {PmiVersion::kPmi1, "get_appnum", &ServerSession::OnGetAppnum},
      {PmiVersion::kPmi1, "get_universe_size", &ServerSession::OnGetUniverseSize},
      {PmiVersion::kPmi1, "get_my_kvsname", &ServerSession::OnGetMyKvsname},
      {PmiVersion::kPmi1, "put", &ServerSession::OnPut},
      {PmiVersion::kPmi1, "get", &ServerSession::OnGet},
      {PmiVersion::kPmi1, "barrier_in", &ServerSession::OnBarrierIn},
      {PmiVersion::kPmi1, "finalize", &ServerSession::OnFinalize},
      {PmiVersion::kPmi2, "job-getid", &ServerSession::OnJobGetid},
      {PmiVersion::kPmi2, "kvs-put", &ServerSession::OnKvsPut},
      {PmiVersion::kPmi2, "kvs-get", &ServerSession::OnKvsGet},
      {PmiVersion::kPmi2, "kvs-fence", &ServerSession::OnKvsFence},
      {PmiVersion::kPmi2, "info-getjobattr", &ServerSession::OnGetJobAttr},
      {PmiVersion::kPmi2, "info-putnodeattr", &ServerSession::OnPutNodeAttr},
      {PmiVersion::kPmi2, "info-getnodeattr", &ServerSession::OnGetNodeAttr},
      {PmiVersion::kPmi2, "finalize", &ServerSession::OnFinalize},
  };
  for (const auto& entry : kHandlers) {
    if (entry.version == version && request == entry.request) return entry.handle;
  }
  return nullptr;
}

// ---------------------------------------------------------------- PMI-1 --

absl::Status ServerSession::HandlePmi1(const Message& request) {
  const CommandSpec* command = wire::FindCommand(PmiVersion::kPmi1, request.command);
  if (command == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat(Who(), ": unknown command \"", request.command,
                     "\"; the client library expects a PMI feature this server lacks"));
  }
  if (request.command == "initack") return OnInitack(request);
  if (request.command == "init") return OnInit(request);
  if (request.command == "abort") {
    OnAbort(request);
    return absl::OkStatus();
  }
  if (protocol_ == Protocol::kPmi2 && state_ != State::kAwaitingInit) {
    return absl::InvalidArgumentError(absl::StrCat(
        Who(), ": sent PMI-1 command \"", request.command, "\" after initializing as PMI-2"));
  }
  if (command->needs_init && state_ != State::kReady) {
    Warn(absl::StrCat(Who(), ": \"", request.command, "\" before init",
                      state_ == State::kFinalized ? " (after finalize)" : "",
                      "; the client must call PMI_Init first"));
    Reply(Message(command->reply).Add("rc", kErrInit).Add("msg", "not_initialized"));
    return absl::OkStatus();
  }
  if (Handler handle = HandlerFor(PmiVersion::kPmi1, request.command)) {
    (this->*handle)(request);
  } else {
    // Known but not offered here (name service, spawn): fail the call so
    // the client reports it instead of hanging (Slurm's silence hangs it).
    Warn(absl::StrCat(Who(), ": \"", request.command, "\" is not supported by pmi-bridge"));
    Reply(Message(command->reply).Add("rc", kFail).Add("msg", "not_supported"));
  }
  return absl::OkStatus();
}

absl::Status ServerSession::OnInitack(const Message& request) {
  if (state_ != State::kAwaitingInit || protocol_ != Protocol::kUnknown) {
    return absl::InvalidArgumentError(
        absl::StrCat(Who(), ": initack after the handshake; the client is confused"));
  }
  std::optional<int64_t> id = request.FindInt("pmiid");
  if (!id.has_value()) {
    return absl::InvalidArgumentError(
        absl::StrCat(Who(), ": initack without a numeric pmiid; set PMI_ID to the rank"));
  }
  RETURN_IF_ERROR(Identify(*id, "initack pmiid"));
  const int size = host_.info().size;
  Reply(Message("initack").Add("rc", 0).Add("rank", *rank_).Add("size", size).Add("debug", 0));
  Reply(Message("set").Add("size", size));
  Reply(Message("set").Add("rank", *rank_));
  Reply(Message("set").Add("debug", 0));
  return absl::OkStatus();
}

absl::Status ServerSession::OnInit(const Message& request) {
  const int64_t version = request.FindInt("pmi_version").value_or(-1);
  const int64_t subversion = request.FindInt("pmi_subversion").value_or(-1);
  if (state_ == State::kReady || state_ == State::kAwaitingFullinit) {
    Warn(absl::StrCat(Who(), ": init while already initialized; call PMI_Finalize first"));
    Reply(Message("response_to_init")
              .Add("rc", kFail)
              .Add("pmi_version", version)
              .Add("pmi_subversion", subversion));
    return absl::OkStatus();
  }
  const bool pmi1 = version == 1 && subversion >= 0;
  const bool pmi2 = version == 2 && subversion == 0;
  const bool allowed = (pmi1 && options_.protocols != ClientProtocols::kPmi2Only) ||
                       (pmi2 && options_.protocols != ClientProtocols::kPmi1Only);
  if (!allowed) {
    Warn(absl::StrCat(Who(), ": asked for PMI ", version, ".", subversion,
                      ", which this server does not offer",
                      options_.protocols == ClientProtocols::kAny
                          ? "; use a PMI-1.1 or PMI-2.0 client"
                          : "; change --protocol or the client's PMI library"));
    Reply(Message("response_to_init")
              .Add("rc", kFail)
              .Add("pmi_version", 1)
              .Add("pmi_subversion", 1));
    return absl::OkStatus();
  }
  if (pmi1 && !rank_.has_value()) {
    return absl::InvalidArgumentError(
        absl::StrCat(Who(),
                     ": PMI-1 init over a socket without initack; set PMI_ID so the client "
                     "sends cmd=initack first"));
  }
  if (pmi1) RETURN_IF_ERROR(Identify(*rank_, "its PMI_FD"));
  protocol_ = pmi1 ? Protocol::kPmi1 : Protocol::kPmi2;
  Reply(Message("response_to_init")
            .Add("rc", 0)
            .Add("pmi_version", pmi1 ? 1 : 2)
            .Add("pmi_subversion", pmi1 ? 1 : 0));
  state_ = pmi1 ? State::kReady : State::kAwaitingFullinit;
  return absl::OkStatus();
}

void ServerSession::OnGetMaxes(const Message&) {
  const PmiLimits& limits = host_.info().limits;
  Reply(Message("maxes")
            .Add("rc", 0)
            .Add("kvsname_max", limits.kvsname_max)
            .Add("keylen_max", limits.keylen_max)
            .Add("vallen_max", limits.vallen_max));
}

void ServerSession::OnGetAppnum(const Message&) {
  Reply(Message("appnum").Add("rc", 0).Add("appnum", host_.info().appnum));
}

void ServerSession::OnGetUniverseSize(const Message&) {
  Reply(Message("universe_size").Add("rc", 0).Add("size", host_.info().universe_size));
}

void ServerSession::OnGetMyKvsname(const Message&) {
  Reply(Message("my_kvsname").Add("rc", 0).Add("kvsname", host_.info().kvsname));
}

void ServerSession::OnPut(const Message& request) {
  const absl::string_view key = request.Find("key").value_or("");
  const absl::string_view value = request.Find("value").value_or("");
  std::string problem = CheckKeyValue(key, value);
  if (problem.empty() && !request.Has("value")) problem = "put without value=";
  if (!problem.empty()) {
    Warn(absl::StrCat(Who(), ": put rejected: ", problem));
    const int rc =
        absl::StrContains(problem, "value") ? kErrInvalidValLength : kErrInvalidKeyLength;
    Reply(Message("put_result").Add("rc", rc).Add("msg", "invalid_key_or_value_length"));
    return;
  }
  BeginDeferred();
  host_.Put(*rank_, std::string(key), std::string(value),
            Guard([](ServerSession& self, absl::Status stored) {
              if (!stored.ok())
                self.Warn(absl::StrCat(self.Who(), ": put failed: ", stored.message()));
              self.FinishDeferred(Message("put_result").Add("rc", stored.ok() ? 0 : kFail));
            }));
}

void ServerSession::OnGet(const Message& request) {
  const std::string key(request.Find("key").value_or(""));
  BeginDeferred();
  host_.Get(*rank_, key, Guard([](ServerSession& self, absl::StatusOr<std::string> value) {
    if (value.ok()) {
      self.FinishDeferred(Message("get_result").Add("rc", 0).Add("value", *value));
    } else {
      self.FinishDeferred(
          Message("get_result").Add("rc", kErrInvalidKey).Add("msg", "key_not_found"));
    }
  }));
}

void ServerSession::OnBarrierIn(const Message&) {
  BeginDeferred();
  host_.Barrier(*rank_, Guard([](ServerSession& self, absl::Status status) {
    self.FinishDeferred(Message("barrier_out").Add("rc", status.ok() ? 0 : kFail));
  }));
}

void ServerSession::OnAbort(const Message& request) {
  auto [code, text] = AbortDetails(request);
  const int rank = rank_.value_or(-1);
  // No reply: the client exits right after writing an abort.
  state_ = State::kFinalized;  // its connection may close now without a second report
  host_.Abort(rank, code, std::move(text));
}

void ServerSession::OnFinalize(const Message&) {
  state_ = State::kFinalized;
  host_.Finalized(*rank_);
  Reply(protocol_ == Protocol::kPmi2 ? Pmi2Response("finalize", 0)
                                     : Message("finalize_ack").Add("rc", 0));
}

// ---------------------------------------------------------------- PMI-2 --

absl::Status ServerSession::HandlePmi2(const Message& request) {
  const absl::string_view name = request.command;
  const CommandSpec* command = wire::FindCommand(PmiVersion::kPmi2, name);
  if (command == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat(Who(), ": unknown command \"", name,
                     "\"; the client library expects a PMI-2 feature this server lacks"));
  }
  if (std::optional<absl::string_view> thrid = request.Find("thrid")) {
    thread_id_ = std::string(*thrid);
  }
  if (name == "abort") {
    OnAbort(request);
    return absl::OkStatus();
  }
  if (name == "fullinit") return OnFullinit(request);
  if (command->needs_init && (state_ != State::kReady || protocol_ != Protocol::kPmi2)) {
    Warn(absl::StrCat(Who(), ": \"", name, "\" before init",
                      state_ == State::kFinalized ? " (after finalize)" : "",
                      "; the client must call PMI2_Init first"));
    Reply(Pmi2Response(name, kErrInit).Add("errmsg", "not initialized"));
    return absl::OkStatus();
  }
  if (Handler handle = HandlerFor(PmiVersion::kPmi2, name)) {
    (this->*handle)(request);
  } else {
    Warn(absl::StrCat(Who(), ": \"", name, "\" is not supported by pmi-bridge"));
    Reply(Pmi2Response(name, kFail).Add("errmsg", "not supported by pmi-bridge"));
  }
  return absl::OkStatus();
}

absl::Status ServerSession::OnFullinit(const Message& request) {
  if (state_ != State::kAwaitingFullinit) {
    if (state_ == State::kReady) {
      Warn(absl::StrCat(Who(), ": fullinit while already initialized"));
      Reply(Pmi2Response("fullinit", kFail).Add("errmsg", "already initialized"));
      return absl::OkStatus();
    }
    return absl::InvalidArgumentError(
        absl::StrCat(Who(), ": PMI-2 fullinit without the cmd=init pmi_version=2 line first"));
  }
  // New MPICH names itself with pmirank; Slurm's libpmi2 in PMI_PORT mode
  // with srcid. Over PMI_FD the transport already says who it is.
  std::optional<int64_t> claimed = request.FindInt("pmirank");
  if (!claimed.has_value()) claimed = request.FindInt("srcid");
  if (claimed.has_value() && *claimed < 0 && rank_.has_value()) claimed = rank_;
  if (!claimed.has_value()) claimed = rank_;
  if (!claimed.has_value()) {
    return absl::InvalidArgumentError(absl::StrCat(
        Who(), ": PMI-2 fullinit names no rank (pmirank=/srcid=); set PMI_ID or PMI_RANK"));
  }
  RETURN_IF_ERROR(Identify(*claimed, "fullinit"));
  state_ = State::kReady;
  const JobInfo& info = host_.info();
  Reply(Pmi2Response("fullinit", 0)
            .Add("pmi-version", 2)
            .Add("pmi-subversion", 0)
            .Add("rank", *rank_)
            .Add("size", info.size)
            .Add("appnum", info.appnum)
            .Add("debugged", "FALSE")
            .Add("pmiverbose", "FALSE"));
  return absl::OkStatus();
}

void ServerSession::OnJobGetid(const Message&) {
  Reply(Pmi2Response("job-getid", 0).Add("jobid", host_.info().kvsname));
}

// Held until every rank fenced (Slurm style); a Hydra-style immediate
// answer would oblige every later get to block instead.
void ServerSession::OnKvsFence(const Message&) {
  BeginDeferred();
  host_.Barrier(*rank_, Guard([](ServerSession& self, absl::Status status) {
    self.FinishDeferred(Pmi2Response("kvs-fence", status.ok() ? 0 : kFail));
  }));
}

void ServerSession::OnKvsPut(const Message& request) {
  const absl::string_view key = request.Find("key").value_or("");
  const absl::string_view value = request.Find("value").value_or("");
  std::string problem = CheckKeyValue(key, value);
  if (!problem.empty()) {
    Warn(absl::StrCat(Who(), ": kvs-put rejected: ", problem));
    Reply(Pmi2Response("kvs-put", kErrInvalidValLength).Add("errmsg", problem));
    return;
  }
  BeginDeferred();
  host_.Put(*rank_, std::string(key), std::string(value),
            Guard([](ServerSession& self, absl::Status stored) {
              if (!stored.ok())
                self.Warn(absl::StrCat(self.Who(), ": kvs-put failed: ", stored.message()));
              self.FinishDeferred(Pmi2Response("kvs-put", stored.ok() ? 0 : kFail));
            }));
}

void ServerSession::OnKvsGet(const Message& request) {
  const std::string key(request.Find("key").value_or(""));
  std::optional<absl::string_view> jobid = request.Find("jobid");
  if (jobid.has_value() && !jobid->empty() && *jobid != host_.info().kvsname) {
    Reply(Pmi2Response("kvs-get", 0).Add("found", "FALSE"));  // another job's KVS
    return;
  }
  BeginDeferred();
  host_.Get(*rank_, key, Guard([](ServerSession& self, absl::StatusOr<std::string> value) {
    Message reply = Pmi2Response("kvs-get", 0);
    if (value.ok()) {
      reply.Add("found", "TRUE").Add("value", *value);
    } else {
      reply.Add("found", "FALSE");
    }
    self.FinishDeferred(std::move(reply));
  }));
}

void ServerSession::OnGetJobAttr(const Message& request) {
  const JobInfo& info = host_.info();
  const absl::string_view key = request.Find("key").value_or("");
  std::optional<std::string> value;
  if (key == "PMI_process_mapping") {
    value = info.process_mapping;
  } else if (key == "universeSize") {
    value = absl::StrCat(info.universe_size);
  }
  Message reply = Pmi2Response("info-getjobattr", 0);
  if (value.has_value()) {
    reply.Add("found", "TRUE").Add("value", *value);
  } else {
    reply.Add("found", "FALSE");
  }
  Reply(std::move(reply));
}

void ServerSession::OnPutNodeAttr(const Message& request) {
  const absl::string_view key = request.Find("key").value_or("");
  const absl::string_view value = request.Find("value").value_or("");
  std::string problem = CheckKeyValue(key, value);
  if (!problem.empty()) {
    Warn(absl::StrCat(Who(), ": info-putnodeattr rejected: ", problem));
    Reply(Pmi2Response("info-putnodeattr", kErrInvalidValLength).Add("errmsg", problem));
    return;
  }
  BeginDeferred();
  host_.PutNodeAttr(
      *rank_, std::string(key), std::string(value),
      Guard([](ServerSession& self, absl::Status stored) {
        self.FinishDeferred(Pmi2Response("info-putnodeattr", stored.ok() ? 0 : kFail));
      }));
}

void ServerSession::OnGetNodeAttr(const Message& request) {
  const std::string key(request.Find("key").value_or(""));
  const bool wait = absl::EqualsIgnoreCase(request.Find("wait").value_or("FALSE"), "TRUE");
  BeginDeferred();
  host_.GetNodeAttr(*rank_, key, wait,
                    Guard([](ServerSession& self, absl::StatusOr<std::string> value) {
                      Message reply = Pmi2Response("info-getnodeattr", 0);
                      if (value.ok()) {
                        reply.Add("found", "TRUE").Add("value", *value);
                      } else {
                        reply.Add("found", "FALSE");
                      }
                      self.FinishDeferred(std::move(reply));
                    }));
}

}  // namespace pmi_shim::session
