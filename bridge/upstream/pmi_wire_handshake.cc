// The handshake's blocking I/O (poll() with a deadline, before the loop
// runs) and the dialects of each host server it talks to.
#include "bridge/upstream/pmi_wire_handshake.h"

#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <optional>
#include <string>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "bridge/upstream/pmi_wire_replies.h"
#include "bridge/upstream/process_mapping.h"
#include "common/sockets.h"
#include "common/status_macros.h"
#include "protocol/pmi/call_channel.h"

namespace pmi_shim::upstream::pmi_wire_internal {
namespace {

using wire::CallChannel;
using wire::Framing;
using wire::Message;
using wire::PmiVersion;

// ------------------------------------------------------------- sockets --

// Takes the launcher's PMI_FD over. It must be an open socket; it becomes
// close-on-exec so that the program the bridge starts cannot reach the host
// server behind the bridge's back.
absl::StatusOr<UniqueFd> TakeInheritedFd(int fd) {
  struct stat st {};
  const bool open = ::fstat(fd, &st) == 0;
  if (!open || !S_ISSOCK(st.st_mode)) {
    // Left alone: a stale PMI_FD number may belong to something else now.
    const std::string why = open ? "not a socket" : std::strerror(errno);
    return absl::FailedPreconditionError(absl::StrCat(
        "PMI_FD=", fd, " is not an open socket (", why,
        "); the launcher's PMI connection did not reach pmi-bridge exec (was it started through "
        "a wrapper that closes descriptors?)"));
  }
  UniqueFd owned(fd);
  const int flags = ::fcntl(fd, F_GETFD);
  if (flags < 0 || ::fcntl(fd, F_SETFD, flags | FD_CLOEXEC) < 0) {
    return absl::ErrnoToStatus(errno, absl::StrCat("fcntl(FD_CLOEXEC) on PMI_FD=", fd));
  }
  return owned;
}

// Waits until `fd` is ready for `events` or `deadline` passes; false on
// timeout. EINTR is retried.
absl::StatusOr<bool> PollUntil(int fd, short events, absl::Time deadline) {
  while (true) {
    const absl::Duration left = deadline - absl::Now();
    if (left <= absl::ZeroDuration()) return false;
    pollfd p{fd, events, 0};
    const int timeout_ms =
        static_cast<int>(absl::ToInt64Milliseconds(absl::Ceil(left, absl::Milliseconds(1))));
    const int ready = ::poll(&p, 1, timeout_ms);
    if (ready > 0) return true;
    if (ready < 0 && errno != EINTR) return absl::ErrnoToStatus(errno, "poll");
  }
}

absl::StatusOr<UniqueFd> ConnectOne(const addrinfo& ai, absl::Time deadline) {
  UniqueFd fd(
      ::socket(ai.ai_family, ai.ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, ai.ai_protocol));
  if (!fd.valid()) return absl::ErrnoToStatus(errno, "socket");
  if (::connect(fd.get(), ai.ai_addr, ai.ai_addrlen) != 0 && errno != EINPROGRESS) {
    return absl::ErrnoToStatus(errno, "connect");
  }
  ASSIGN_OR_RETURN(bool ready, PollUntil(fd.get(), POLLOUT, deadline));
  if (!ready) return absl::DeadlineExceededError("connect timed out");
  int error = 0;
  socklen_t length = sizeof(error);
  ::getsockopt(fd.get(), SOL_SOCKET, SO_ERROR, &error, &length);
  if (error != 0) return absl::ErrnoToStatus(error, "connect");
  const int one = 1;  // requests are tiny and strictly alternate: never wait for Nagle
  ::setsockopt(fd.get(), IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  return fd;
}

absl::StatusOr<UniqueFd> ConnectTcp(const HostEndpoint& endpoint, absl::Time deadline) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  const std::string port = absl::StrCat(*endpoint.port);
  const int rc = ::getaddrinfo(endpoint.port_host->c_str(), port.c_str(), &hints, &found);
  if (rc != 0) {
    return absl::UnavailableError(absl::StrCat("cannot resolve the host PMI server ",
                                               endpoint.Describe(), " (", ::gai_strerror(rc),
                                               "); check the host name in PMI_PORT"));
  }
  absl::Status last;
  for (const addrinfo* ai = found; ai != nullptr; ai = ai->ai_next) {
    absl::StatusOr<UniqueFd> fd = ConnectOne(*ai, deadline);
    if (fd.ok()) {
      ::freeaddrinfo(found);
      return fd;
    }
    last = fd.status();
  }
  ::freeaddrinfo(found);
  return absl::UnavailableError(
      absl::StrCat("cannot connect to the host PMI server ", endpoint.Describe(), " (",
                   last.message(), "); is the launcher still running and reachable from here?"));
}

// ----------------------------------------------------------- handshake --

// A one-line error about the host server's answer to `context`.
absl::Status Refused(const CallChannel& channel, absl::string_view context, const Message& reply,
                     absl::string_view advice) {
  return absl::FailedPreconditionError(absl::StrCat(channel.peer().name, " refused ", context,
                                                    " (\"", wire::Excerpt(reply), "\"); ", advice));
}

absl::StatusOr<int> RequiredInt(const CallChannel& channel, const Message& reply,
                                absl::string_view key, absl::string_view context) {
  std::optional<int64_t> value = reply.FindInt(key);
  if (!value.has_value()) {
    return Refused(channel, context, reply,
                   absl::StrCat("its answer lacks a numeric ", key, "; report this"));
  }
  return static_cast<int>(*value);
}

// PMI_PORT mode: `initack pmiid=` names the rank; rank, size and debug come
// back in three `set` lines after the initack (hydra, MPICH-1, our server).
absl::Status Initack(CallChannel& channel, int id, HandshakeResult& result) {
  ASSIGN_OR_RETURN(Message ack,
                   channel.Call(Message("initack").Add("pmiid", id), Framing::kPmi1Line));
  if (ReplyRc(ack) != 0) {
    return Refused(channel, absl::StrCat("PMI_ID ", id), ack,
                   "PMI_ID does not name a rank of this job");
  }
  std::optional<int64_t> rank, size;
  for (int i = 0; i < 3; ++i) {
    ASSIGN_OR_RETURN(Message set, channel.Receive("set", "initack"));
    if (set.Has("size")) size = set.FindInt("size");
    if (set.Has("rank")) rank = set.FindInt("rank");
  }
  if (!rank.has_value() || !size.has_value()) {
    return Refused(channel, absl::StrCat("PMI_ID ", id), ack,
                   "its set lines did not give a numeric rank and size; report this");
  }
  result.rank = static_cast<int>(*rank);
  result.info.size = static_cast<int>(*size);
  return absl::OkStatus();
}

// The largest value a PMI-1 put can carry while the whole request stays
// within kMaxPmi1RequestBytes: "cmd=put kvsname=K key=KEY value=V\n".
int Pmi1ValueRoom(const session::JobInfo& info) {
  const int overhead = static_cast<int>(absl::string_view("cmd=put kvsname= key= value=\n").size());
  return static_cast<int>(kMaxPmi1RequestBytes) - overhead - static_cast<int>(info.kvsname.size()) -
         info.limits.keylen_max;
}

absl::Status Pmi1Facts(CallChannel& channel, const HostEndpoint& e, HandshakeResult& result) {
  session::JobInfo& info = result.info;
  ASSIGN_OR_RETURN(Message maxes, channel.Call(Message("get_maxes"), Framing::kPmi1Line));
  info.limits.kvsname_max = maxes.FindInt("kvsname_max").value_or(256);
  info.limits.keylen_max = maxes.FindInt("keylen_max").value_or(64);
  // More than 1024 crashes MPICH and MVAPICH2 clients (Flux's note).
  info.limits.vallen_max = std::min<int64_t>(maxes.FindInt("vallen_max").value_or(1024), 1024);
  ASSIGN_OR_RETURN(Message appnum, channel.Call(Message("get_appnum"), Framing::kPmi1Line));
  info.appnum = appnum.FindInt("appnum").value_or(0);
  ASSIGN_OR_RETURN(Message universe,
                   channel.Call(Message("get_universe_size"), Framing::kPmi1Line));
  info.universe_size = universe.FindInt("size").value_or(-1);
  ASSIGN_OR_RETURN(Message name, channel.Call(Message("get_my_kvsname"), Framing::kPmi1Line));
  std::optional<absl::string_view> kvsname = name.Find("kvsname");
  if (ReplyRc(name) != 0 || !kvsname.has_value() || kvsname->empty()) {
    return Refused(channel, "get_my_kvsname", name, "the job has no KVS name; report this");
  }
  info.kvsname = std::string(*kvsname);
  ASSIGN_OR_RETURN(
      Message mapping,
      channel.Call(Message("get").Add("kvsname", info.kvsname).Add("key", "PMI_process_mapping"),
                   Framing::kPmi1Line));
  info.process_mapping = FoundValue(mapping);
  // Only Slurm sets PMI_JOBID, and its kvsname is that id; a PMI_JOBID
  // leaked into a hydra job from an outer srun does not match.
  result.one_read_per_request = e.jobid.has_value() && *e.jobid == info.kvsname;
  if (!result.one_read_per_request) return absl::OkStatus();
  info.limits.vallen_max = std::min(info.limits.vallen_max, Pmi1ValueRoom(info));
  if (info.limits.vallen_max < 64) {
    return absl::FailedPreconditionError(
        absl::StrCat("the host's KVS name is ", info.kvsname.size(),
                     " bytes, which leaves no room for values "
                     "in a 1024-byte PMI-1 request; run with --upstream pmi2"));
  }
  return absl::OkStatus();
}

absl::StatusOr<HandshakeResult> HandshakePmi1(CallChannel& channel, const HostEndpoint& e) {
  HandshakeResult result;
  if (!e.fd.has_value()) {
    RETURN_IF_ERROR(Initack(channel, e.id.has_value() ? *e.id : *e.rank, result));
  } else if (!e.rank.has_value() || !e.size.has_value()) {
    return absl::FailedPreconditionError(
        absl::StrCat(e.Describe(),
                     " is set without PMI_RANK and PMI_SIZE, which a PMI-1 client needs; run "
                     "with --upstream pmi2, whose handshake reports them"));
  } else {
    result.rank = *e.rank;
    result.info.size = *e.size;
  }
  // Slurm parses exactly this spelling (sscanf): CallChannel::Init writes it.
  ASSIGN_OR_RETURN(Message init, channel.Init(PmiVersion::kPmi1));
  if (ReplyRc(init) != 0) {
    return Refused(channel, "PMI-1", init,
                   "the job's other ranks may use PMI-2 (Slurm fixes one version per "
                   "step): run with --upstream pmi2");
  }
  RETURN_IF_ERROR(Pmi1Facts(channel, e, result));
  result.spawned = e.spawned;
  return result;
}

absl::Status Pmi2Facts(CallChannel& channel, HandshakeResult& result) {
  session::JobInfo& info = result.info;
  ASSIGN_OR_RETURN(Message id, channel.Call(Message("job-getid"), Framing::kPmi2Record));
  std::optional<absl::string_view> jobid = id.Find("jobid");
  if (ReplyRc(id) != 0 || !jobid.has_value() || jobid->empty()) {
    return Refused(channel, "job-getid", id, "the job has no id; report this");
  }
  info.kvsname = std::string(*jobid);
  ASSIGN_OR_RETURN(
      Message universe,
      channel.Call(Message("info-getjobattr").Add("key", "universeSize"), Framing::kPmi2Record));
  std::optional<std::string> universe_text = FoundValue(universe);
  int universe_size = -1;  // what MPICH reads as "not available"
  if (universe_text.has_value() && !absl::SimpleAtoi(*universe_text, &universe_size)) {
    universe_size = -1;
  }
  info.universe_size = universe_size;
  ASSIGN_OR_RETURN(Message mapping,
                   channel.Call(Message("info-getjobattr").Add("key", "PMI_process_mapping"),
                                Framing::kPmi2Record));
  info.process_mapping = FoundValue(mapping);
  info.limits = session::PmiLimits{};  // PMI2_MAX_KEYLEN 64, PMI2_MAX_VALLEN 1024
  return absl::OkStatus();
}

absl::StatusOr<HandshakeResult> HandshakePmi2(CallChannel& channel, const HostEndpoint& e) {
  ASSIGN_OR_RETURN(Message init, channel.Init(PmiVersion::kPmi2));
  if (ReplyRc(init) != 0) {
    return Refused(channel, "PMI-2", init,
                   "Flux offers only PMI-1, and Slurm fixes one version per step: run "
                   "with --upstream pmi1");
  }
  // Slurm rejects a fullinit without all three of pmijobid, pmirank and
  // threaded; hydra ignores pmijobid (even an empty one).
  const int pmirank = e.id.has_value() ? *e.id : e.rank.value_or(-1);
  ASSIGN_OR_RETURN(Message full, channel.Call(Message("fullinit")
                                                  .Add("pmijobid", e.jobid.value_or(""))
                                                  .Add("pmirank", pmirank)
                                                  .Add("threaded", "FALSE"),
                                              Framing::kPmi2Record));
  if (ReplyRc(full) != 0) {
    return Refused(channel, absl::StrCat("PMI-2 fullinit of rank ", pmirank), full,
                   "check PMI_RANK/PMI_ID/PMI_JOBID");
  }
  HandshakeResult result;
  ASSIGN_OR_RETURN(result.rank, RequiredInt(channel, full, "rank", "fullinit"));
  ASSIGN_OR_RETURN(result.info.size, RequiredInt(channel, full, "size", "fullinit"));
  result.info.appnum = full.FindInt("appnum").value_or(0);
  result.spawned = e.spawned || full.Has("spawner-jobid");
  RETURN_IF_ERROR(Pmi2Facts(channel, result));
  return result;
}

// Checks what the handshake learned and re-encodes the process mapping.
absl::Status FinishJobInfo(const HostEndpoint& e, HandshakeResult& result) {
  session::JobInfo& info = result.info;
  if (info.size < 1 || result.rank < 0 || result.rank >= info.size) {
    return absl::FailedPreconditionError(
        absl::StrCat("host PMI server at ", e.Describe(), " says this is rank ", result.rank,
                     " of ", info.size, ", which is impossible; check PMI_RANK/PMI_ID"));
  }
  if (!info.process_mapping.has_value()) return absl::OkStatus();
  absl::StatusOr<std::string> plain =
      PlainProcessMapping(*info.process_mapping, info.size, info.limits.vallen_max);
  if (plain.ok()) {
    info.process_mapping = *std::move(plain);
  } else if (absl::IsOutOfRange(plain.status())) {
    // As Hydra and Flux do with a map that does not fit: leave it out, and
    // MPICH falls back to exchanging host names.
    info.process_mapping.reset();
  }  // Unparsable: forward as is; the client reads it as it would directly.
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<UniqueFd> OpenHostConnection(const HostEndpoint& endpoint, absl::Time deadline) {
  UniqueFd fd;
  if (endpoint.fd.has_value()) {
    ASSIGN_OR_RETURN(fd, TakeInheritedFd(*endpoint.fd));
  } else {
    ASSIGN_OR_RETURN(fd, ConnectTcp(endpoint, deadline));
  }
  // Non-blocking from the start: the handshake waits in poll() with its
  // deadline, and the loop needs it so afterwards anyway.
  RETURN_IF_ERROR(SetNonBlocking(fd.get()));
  return fd;
}

absl::StatusOr<HandshakeResult> Handshake(int fd, const HostEndpoint& endpoint,
                                          WireProtocol protocol, absl::Time deadline,
                                          const TraceFn& trace) {
  CallChannel::Options options;
  options.peer = {absl::StrCat("the host PMI server at ", endpoint.Describe()),
                  "; is it a PMI server, and is the launcher alive?",
                  "; the launcher refused this rank or ended the job",
                  "; it does not speak this PMI version (try the other --upstream)"};
  options.deadline = deadline;
  options.trace = trace;
  CallChannel channel(fd, std::move(options));
  ASSIGN_OR_RETURN(HandshakeResult result, protocol == WireProtocol::kPmi1
                                               ? HandshakePmi1(channel, endpoint)
                                               : HandshakePmi2(channel, endpoint));
  RETURN_IF_ERROR(FinishJobInfo(endpoint, result));
  if (channel.buffered_bytes() != 0) {
    return absl::FailedPreconditionError(
        absl::StrCat("host PMI server at ", endpoint.Describe(),
                     " sent more than it was asked for during the handshake; it does not speak ",
                     WireProtocolName(protocol), " as expected"));
  }
  return result;
}

}  // namespace pmi_shim::upstream::pmi_wire_internal
