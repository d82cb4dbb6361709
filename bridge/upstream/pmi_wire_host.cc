// PmiWireHost: connection set-up and the synchronous handshake, the
// request FIFO over the watched socket, and the PMI_process_mapping
// re-encoder (see pmi_wire_host.h for the contract).
#include "bridge/upstream/pmi_wire_host.h"

#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <optional>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "bridge/wire/pmi1.h"
#include "bridge/wire/pmi2.h"
#include "common/status_macros.h"

namespace pmi_shim::upstream {
namespace {

using wire::Framing;
using wire::Message;

// --------------------------------------------------- PMI_process_mapping --

struct Block {
  int node = 0;
  int nodes = 1;
  int ppn = 1;
};

// Reads a mapping the way MPL_rankmap_str_to_array does, into the node id
// of each of the first `size` ranks. `extended` tells whether Hydra 4.1's
// bare ids or repeat groups occur.
class MappingReader {
 public:
  MappingReader(absl::string_view text, int size) : text_(text), size_(size) {}

  absl::StatusOr<std::vector<int>> Read(bool& extended);

 private:
  void SkipSpace() {
    while (pos_ < text_.size() && absl::ascii_isspace(static_cast<unsigned char>(text_[pos_]))) {
      ++pos_;
    }
  }
  bool Consume(char c) {
    SkipSpace();
    if (pos_ >= text_.size() || text_[pos_] != c) return false;
    ++pos_;
    return true;
  }
  std::optional<int> Number();
  std::optional<Block> ReadBlock();
  bool ReadGroup();  // "[block,...]xN"
  void Emit(const Block& block);
  absl::Status Error(absl::string_view what) const {
    return absl::InvalidArgumentError(
        absl::StrCat("PMI_process_mapping \"", text_, "\": ", what, " at byte ", pos_));
  }

  absl::string_view text_;
  int size_;
  size_t pos_ = 0;
  bool extended_ = false;
  std::vector<int> nodes_;            // node id per rank, as far as the text goes
  std::optional<size_t> wrap_start_;  // where MPICH restarts a short map
};

std::optional<int> MappingReader::Number() {
  SkipSpace();
  int64_t value = 0;
  const size_t begin = pos_;
  while (pos_ < text_.size() && absl::ascii_isdigit(static_cast<unsigned char>(text_[pos_]))) {
    value = value * 10 + (text_[pos_++] - '0');
    if (value > 1000000000) return std::nullopt;
  }
  if (pos_ == begin) return std::nullopt;
  return static_cast<int>(value);
}

void MappingReader::Emit(const Block& block) {
  // MPICH restarts a map that names too few ranks at its first block on
  // node 0 (or its first repeat group).
  if (!wrap_start_.has_value() && block.node == 0) wrap_start_ = nodes_.size();
  if (block.ppn == 0) return;  // places nobody (and must not spin on a huge node count)
  for (int n = 0; n < block.nodes; ++n) {
    for (int p = 0; p < block.ppn; ++p) {
      if (static_cast<int>(nodes_.size()) >= size_) return;
      nodes_.push_back(block.node + n);
    }
  }
}

std::optional<Block> MappingReader::ReadBlock() {
  if (!Consume('(')) {
    std::optional<int> node = Number();  // bare id: one rank on that node
    if (!node.has_value()) return std::nullopt;
    extended_ = true;
    return Block{*node, 1, 1};
  }
  std::optional<int> node = Number();
  if (!node.has_value() || !Consume(',')) return std::nullopt;
  std::optional<int> nodes = Number();
  if (!nodes.has_value() || !Consume(',')) return std::nullopt;
  std::optional<int> ppn = Number();
  if (!ppn.has_value() || !Consume(')')) return std::nullopt;
  return Block{*node, *nodes, *ppn};
}

bool MappingReader::ReadGroup() {
  extended_ = true;
  std::vector<Block> blocks;
  do {
    std::optional<Block> block = ReadBlock();
    if (!block.has_value()) return false;
    blocks.push_back(*block);
  } while (Consume(','));
  if (!Consume(']') || !Consume('x')) return false;
  std::optional<int> count = Number();
  if (!count.has_value()) return false;
  if (!wrap_start_.has_value()) wrap_start_ = nodes_.size();
  for (int i = 0; i < *count && static_cast<int>(nodes_.size()) < size_; ++i) {
    const size_t before = nodes_.size();
    for (const Block& block : blocks) Emit(block);
    if (nodes_.size() == before) break;  // an empty group repeated a billion times
  }
  return true;
}

absl::StatusOr<std::vector<int>> MappingReader::Read(bool& extended) {
  if (!Consume('(')) return Error("no opening '('");
  SkipSpace();
  if (!absl::StartsWith(text_.substr(pos_), "vector")) return Error("not a vector mapping");
  pos_ += 6;
  while (!Consume(')')) {
    if (!Consume(',')) return Error("expected ',' or ')'");
    if (Consume('[')) {
      if (!ReadGroup()) return Error("malformed repeat group");
      continue;
    }
    std::optional<Block> block = ReadBlock();
    if (!block.has_value()) return Error("malformed block");
    Emit(*block);
  }
  if (nodes_.empty()) return Error("no rank is placed");
  // A short map repeats from its wrap point (MPICH's "legacy format").
  const size_t named = nodes_.size();
  if (static_cast<int>(named) < size_ && (!wrap_start_.has_value() || *wrap_start_ >= named)) {
    return Error(absl::StrCat("places ", named, " of ", size_, " ranks and cannot repeat"));
  }
  for (size_t i = 0; static_cast<int>(nodes_.size()) < size_; ++i) {
    const int node = nodes_[*wrap_start_ + i % (named - *wrap_start_)];
    nodes_.push_back(node);
  }
  extended = extended_;
  return std::move(nodes_);
}

// The shortest p such that nodes[i] == nodes[i - p] for every i >= p
// (through the KMP failure function, so linear in the number of ranks).
size_t ShortestPeriod(const std::vector<int>& nodes) {
  std::vector<size_t> border(nodes.size(), 0);
  for (size_t i = 1, k = 0; i < nodes.size(); ++i) {
    while (k > 0 && nodes[i] != nodes[k]) k = border[k - 1];
    if (nodes[i] == nodes[k]) ++k;
    border[i] = k;
  }
  return nodes.size() - border.back();
}

// Plain 3-tuples for ranks [0, count): runs of one node, merged when
// consecutive nodes hold the same number of ranks.
std::string FormatPlain(const std::vector<int>& nodes, size_t count) {
  std::vector<Block> blocks;
  for (size_t i = 0; i < count;) {
    size_t end = i;
    while (end < count && nodes[end] == nodes[i]) ++end;
    const int ppn = static_cast<int>(end - i);
    Block* last = blocks.empty() ? nullptr : &blocks.back();
    if (last != nullptr && last->ppn == ppn && last->node + last->nodes == nodes[i]) {
      ++last->nodes;
    } else {
      blocks.push_back(Block{nodes[i], 1, ppn});
    }
    i = end;
  }
  std::string out = "(vector";
  for (const Block& b : blocks) absl::StrAppend(&out, ",(", b.node, ",", b.nodes, ",", b.ppn, ")");
  return out + ")";
}

// ------------------------------------------------------------- sockets --

absl::Status SetNonBlocking(int fd) {
  const int flags = ::fcntl(fd, F_GETFL);
  if (flags < 0 || ::fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0) {
    return absl::ErrnoToStatus(errno, absl::StrCat("fcntl(O_NONBLOCK) on fd ", fd));
  }
  return absl::OkStatus();
}

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

using TraceFn = std::function<void(bool to_host, const Message& message)>;

// A message for an error line: one line, and short even if the peer's is not.
std::string Excerpt(const Message& message) {
  std::string text = message.DebugString();
  if (text.size() > 160) text = absl::StrCat(text.substr(0, 160), "...");
  return text;
}

// Blocking request/reply on the socket before it joins the loop: the job's
// facts must be known before the downstream server can start.
class SyncChannel {
 public:
  SyncChannel(int fd, absl::Time deadline, const HostEndpoint& endpoint, const TraceFn& trace,
              wire::FrameDecoder& decoder)
      : fd_(fd),
        deadline_(deadline),
        where_(endpoint.Describe()),
        trace_(trace),
        decoder_(decoder) {}

  absl::Status Send(const Message& message, Framing framing);
  // The next message, which must be `expected`; `context` names the request.
  absl::StatusOr<Message> Receive(absl::string_view expected, absl::string_view context);
  absl::StatusOr<Message> Call(const Message& request, Framing framing,
                               absl::string_view expected) {
    RETURN_IF_ERROR(Send(request, framing));
    return Receive(expected, request.command);
  }
  // A one-line error about the host server's answer to `context`.
  absl::Status Refused(absl::string_view context, const Message& reply,
                       absl::string_view advice) const {
    return absl::FailedPreconditionError(absl::StrCat("host PMI server at ", where_, " refused ",
                                                      context, " (\"", Excerpt(reply), "\"); ",
                                                      advice));
  }

 private:
  absl::StatusOr<std::optional<Message>> NextMessage(absl::string_view context);

  int fd_;
  absl::Time deadline_;
  std::string where_;
  const TraceFn& trace_;
  wire::FrameDecoder& decoder_;
};

absl::Status SyncChannel::Send(const Message& message, Framing framing) {
  if (trace_) trace_(true, message);
  const std::string bytes =
      framing == Framing::kPmi1Line ? wire::FormatPmi1(message) : wire::FormatPmi2(message);
  size_t sent = 0;
  while (sent < bytes.size()) {
    const ssize_t n = ::send(fd_, bytes.data() + sent, bytes.size() - sent, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      ASSIGN_OR_RETURN(bool ready, PollUntil(fd_, POLLOUT, deadline_));
      if (ready) continue;
      errno = ETIMEDOUT;
    }
    if (n < 0) {
      return absl::UnavailableError(absl::StrCat("cannot write ", message.command,
                                                 " to the host PMI server at ", where_, " (",
                                                 std::strerror(errno), ")"));
    }
    sent += static_cast<size_t>(n);
  }
  return absl::OkStatus();
}

absl::StatusOr<std::optional<Message>> SyncChannel::NextMessage(absl::string_view context) {
  absl::StatusOr<std::optional<wire::Frame>> frame = decoder_.Next();
  if (frame.ok() && frame->has_value()) {
    absl::StatusOr<Message> message = wire::ParseFrame(**frame);
    if (message.ok()) return std::optional<Message>(*std::move(message));
    frame = message.status();
  }
  if (!frame.ok()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "host PMI server at ", where_, " answered ", context, " with a malformed message (",
        frame.status().message(), "); it does not speak PMI as expected"));
  }
  return std::optional<Message>();
}

absl::StatusOr<Message> SyncChannel::Receive(absl::string_view expected,
                                             absl::string_view context) {
  while (true) {
    ASSIGN_OR_RETURN(std::optional<Message> message, NextMessage(context));
    if (message.has_value()) {
      if (trace_) trace_(false, *message);
      if (message->command == expected) return *std::move(message);
      return absl::FailedPreconditionError(
          absl::StrCat("host PMI server at ", where_, " answered ", context, " with \"",
                       Excerpt(*message), "\" instead of cmd=", expected,
                       "; it does not speak this PMI version (try the other --upstream)"));
    }
    ASSIGN_OR_RETURN(bool ready, PollUntil(fd_, POLLIN, deadline_));
    if (!ready) {
      return absl::DeadlineExceededError(
          absl::StrCat("host PMI server at ", where_, " did not answer ", context,
                       " in time; is it a PMI server, and is the launcher alive?"));
    }
    char buffer[4096];
    const ssize_t n = ::recv(fd_, buffer, sizeof(buffer), 0);
    if (n < 0 && (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK)) continue;
    if (n == 0) {
      return absl::UnavailableError(
          absl::StrCat("host PMI server at ", where_, " closed the connection during ", context,
                       "; the launcher refused this rank or ended the job"));
    }
    if (n < 0) {
      return absl::UnavailableError(absl::StrCat("reading from the host PMI server at ", where_,
                                                 " failed during ", context, " (",
                                                 std::strerror(errno), ")"));
    }
    decoder_.Feed(absl::string_view(buffer, static_cast<size_t>(n)));
  }
}

// rc is optional (RFC 13); hydra 4.0.2 leaves it out of most replies.
int64_t ReplyRc(const Message& reply) {
  if (!reply.Has("rc")) return 0;
  return reply.FindInt("rc").value_or(-1);
}

std::optional<std::string> FoundValue(const Message& reply) {
  std::optional<absl::string_view> found = reply.Find("found");
  std::optional<absl::string_view> value = reply.Find("value");
  if (ReplyRc(reply) != 0 || !value.has_value() ||
      (found.has_value() && !absl::EqualsIgnoreCase(*found, "TRUE"))) {
    return std::nullopt;
  }
  return std::string(*value);
}

absl::StatusOr<int> RequiredInt(const SyncChannel& channel, const Message& reply,
                                absl::string_view key, absl::string_view context) {
  std::optional<int64_t> value = reply.FindInt(key);
  if (!value.has_value()) {
    return channel.Refused(context, reply,
                           absl::StrCat("its answer lacks a numeric ", key, "; report this"));
  }
  return static_cast<int>(*value);
}

struct HandshakeResult {
  session::JobInfo info;
  int rank = 0;
  bool spawned = false;
  // Slurm's PMI-1 server: every request must fit one 1024-byte read().
  bool one_read_per_request = false;
};

// PMI_PORT mode: `initack pmiid=` names the rank; rank, size and debug come
// back in three `set` lines after the initack (hydra, MPICH-1, our server).
absl::Status Initack(SyncChannel& channel, int id, HandshakeResult& result) {
  ASSIGN_OR_RETURN(Message ack, channel.Call(Message("initack").Add("pmiid", id),
                                             Framing::kPmi1Line, "initack"));
  if (ReplyRc(ack) != 0) {
    return channel.Refused(absl::StrCat("PMI_ID ", id), ack,
                           "PMI_ID does not name a rank of this job");
  }
  std::optional<int64_t> rank, size;
  for (int i = 0; i < 3; ++i) {
    ASSIGN_OR_RETURN(Message set, channel.Receive("set", "initack"));
    if (set.Has("size")) size = set.FindInt("size");
    if (set.Has("rank")) rank = set.FindInt("rank");
  }
  if (!rank.has_value() || !size.has_value()) {
    return channel.Refused(absl::StrCat("PMI_ID ", id), ack,
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

absl::Status Pmi1Facts(SyncChannel& channel, const HostEndpoint& e, HandshakeResult& result) {
  session::JobInfo& info = result.info;
  ASSIGN_OR_RETURN(Message maxes, channel.Call(Message("get_maxes"), Framing::kPmi1Line, "maxes"));
  info.limits.kvsname_max = maxes.FindInt("kvsname_max").value_or(256);
  info.limits.keylen_max = maxes.FindInt("keylen_max").value_or(64);
  // More than 1024 crashes MPICH and MVAPICH2 clients (Flux's note).
  info.limits.vallen_max = std::min<int64_t>(maxes.FindInt("vallen_max").value_or(1024), 1024);
  ASSIGN_OR_RETURN(Message appnum,
                   channel.Call(Message("get_appnum"), Framing::kPmi1Line, "appnum"));
  info.appnum = appnum.FindInt("appnum").value_or(0);
  ASSIGN_OR_RETURN(Message universe,
                   channel.Call(Message("get_universe_size"), Framing::kPmi1Line, "universe_size"));
  info.universe_size = universe.FindInt("size").value_or(-1);
  ASSIGN_OR_RETURN(Message name,
                   channel.Call(Message("get_my_kvsname"), Framing::kPmi1Line, "my_kvsname"));
  std::optional<absl::string_view> kvsname = name.Find("kvsname");
  if (ReplyRc(name) != 0 || !kvsname.has_value() || kvsname->empty()) {
    return channel.Refused("get_my_kvsname", name, "the job has no KVS name; report this");
  }
  info.kvsname = std::string(*kvsname);
  ASSIGN_OR_RETURN(
      Message mapping,
      channel.Call(Message("get").Add("kvsname", info.kvsname).Add("key", "PMI_process_mapping"),
                   Framing::kPmi1Line, "get_result"));
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

absl::StatusOr<HandshakeResult> HandshakePmi1(SyncChannel& channel, const HostEndpoint& e) {
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
  // Slurm parses exactly this spelling (sscanf), so it is written as is.
  ASSIGN_OR_RETURN(Message init,
                   channel.Call(Message("init").Add("pmi_version", 1).Add("pmi_subversion", 1),
                                Framing::kPmi1Line, "response_to_init"));
  if (ReplyRc(init) != 0) {
    return channel.Refused("PMI-1", init,
                           "the job's other ranks may use PMI-2 (Slurm fixes one version per "
                           "step): run with --upstream pmi2");
  }
  RETURN_IF_ERROR(Pmi1Facts(channel, e, result));
  result.spawned = e.spawned;
  return result;
}

absl::Status Pmi2Facts(SyncChannel& channel, HandshakeResult& result) {
  session::JobInfo& info = result.info;
  ASSIGN_OR_RETURN(Message id,
                   channel.Call(Message("job-getid"), Framing::kPmi2Record, "job-getid-response"));
  std::optional<absl::string_view> jobid = id.Find("jobid");
  if (ReplyRc(id) != 0 || !jobid.has_value() || jobid->empty()) {
    return channel.Refused("job-getid", id, "the job has no id; report this");
  }
  info.kvsname = std::string(*jobid);
  ASSIGN_OR_RETURN(Message universe,
                   channel.Call(Message("info-getjobattr").Add("key", "universeSize"),
                                Framing::kPmi2Record, "info-getjobattr-response"));
  std::optional<std::string> universe_text = FoundValue(universe);
  int universe_size = -1;  // what MPICH reads as "not available"
  if (universe_text.has_value() && !absl::SimpleAtoi(*universe_text, &universe_size)) {
    universe_size = -1;
  }
  info.universe_size = universe_size;
  ASSIGN_OR_RETURN(Message mapping,
                   channel.Call(Message("info-getjobattr").Add("key", "PMI_process_mapping"),
                                Framing::kPmi2Record, "info-getjobattr-response"));
  info.process_mapping = FoundValue(mapping);
  info.limits = session::PmiLimits{};  // PMI2_MAX_KEYLEN 64, PMI2_MAX_VALLEN 1024
  return absl::OkStatus();
}

absl::StatusOr<HandshakeResult> HandshakePmi2(SyncChannel& channel, const HostEndpoint& e) {
  ASSIGN_OR_RETURN(Message init,
                   channel.Call(Message("init").Add("pmi_version", 2).Add("pmi_subversion", 0),
                                Framing::kPmi1Line, "response_to_init"));
  if (ReplyRc(init) != 0) {
    return channel.Refused("PMI-2", init,
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
                                              Framing::kPmi2Record, "fullinit-response"));
  if (ReplyRc(full) != 0) {
    return channel.Refused(absl::StrCat("PMI-2 fullinit of rank ", pmirank), full,
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

// The reply name a PMI-1 request is answered with (they are irregular).
std::string ReplyCommandFor(WireProtocol protocol, absl::string_view request) {
  if (protocol == WireProtocol::kPmi2) return absl::StrCat(request, "-response");
  if (request == "put") return "put_result";
  if (request == "get") return "get_result";
  if (request == "barrier_in") return "barrier_out";
  if (request == "finalize") return "finalize_ack";
  return absl::StrCat(request, "_result");
}

absl::Status RcStatus(const Message& reply, absl::string_view what) {
  if (ReplyRc(reply) == 0) return absl::OkStatus();
  return absl::FailedPreconditionError(
      absl::StrCat("host PMI server refused ", what, " (", Excerpt(reply), ")"));
}

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

absl::StatusOr<std::string> PlainProcessMapping(absl::string_view mapping, int size,
                                                size_t max_length) {
  if (size < 1) return absl::InvalidArgumentError("job size must be positive");
  bool extended = false;
  ASSIGN_OR_RETURN(std::vector<int> nodes, MappingReader(mapping, size).Read(extended));
  std::string plain = extended ? FormatPlain(nodes, nodes.size()) : std::string(mapping);
  if (extended && plain.size() > max_length && nodes[0] == 0) {
    // Every reader repeats a map that names fewer ranks than the job has,
    // from its start when that is on node 0; so one period is enough.
    plain = FormatPlain(nodes, ShortestPeriod(nodes));
  }
  if (plain.size() > max_length) {
    return absl::OutOfRangeError(absl::StrCat("PMI_process_mapping needs ", plain.size(),
                                              " bytes as plain 3-tuples, more than ", max_length));
  }
  return plain;
}

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
  UniqueFd fd;
  if (endpoint.fd.has_value()) {
    ASSIGN_OR_RETURN(fd, TakeInheritedFd(*endpoint.fd));
  } else {
    ASSIGN_OR_RETURN(fd, ConnectTcp(endpoint, deadline));
  }
  // Non-blocking from the start: the handshake waits in poll() with its
  // deadline, and the loop needs it so afterwards anyway.
  RETURN_IF_ERROR(SetNonBlocking(fd.get()));
  wire::FrameDecoder decoder;
  SyncChannel channel(fd.get(), deadline, endpoint, options.trace, decoder);
  ASSIGN_OR_RETURN(HandshakeResult result, protocol == WireProtocol::kPmi1
                                               ? HandshakePmi1(channel, endpoint)
                                               : HandshakePmi2(channel, endpoint));
  RETURN_IF_ERROR(FinishJobInfo(endpoint, result));
  if (decoder.buffered_bytes() != 0) {
    return absl::FailedPreconditionError(
        absl::StrCat("host PMI server at ", endpoint.Describe(),
                     " sent more than it was asked for during the handshake; it does not speak ",
                     WireProtocolName(protocol), " as expected"));
  }
  std::unique_ptr<PmiWireHost> host(
      new PmiWireHost(loop, std::move(fd), protocol, std::move(options)));
  host->info_ = std::move(result.info);
  host->rank_ = result.rank;
  host->spawned_ = result.spawned;
  host->where_ = endpoint.Describe();
  host->one_read_per_request_ = result.one_read_per_request;
  RETURN_IF_ERROR(host->StartWatching());
  return host;
}

PmiWireHost::PmiWireHost(EventLoop& loop, UniqueFd fd, WireProtocol protocol, Options options)
    : loop_(loop), fd_(std::move(fd)), protocol_(protocol), options_(std::move(options)) {}

PmiWireHost::~PmiWireHost() {
  *alive_ = false;
  CloseFd();
}

absl::Status PmiWireHost::StartWatching() {
  return loop_.Watch(fd_.get(), EPOLLIN, [this](uint32_t events) { OnEvents(events); });
}

void PmiWireHost::CloseFd() {
  if (!fd_.valid()) return;
  loop_.Unwatch(fd_.get());
  fd_.Reset();
  outbox_.clear();
  watching_out_ = false;
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
  Call(std::move(request), [done = std::move(done), key](absl::StatusOr<Message> reply) {
    done(reply.ok() ? RcStatus(*reply, absl::StrCat("the put of key ", key)) : reply.status());
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
  Message request =
      protocol_ == WireProtocol::kPmi1
          ? Message("get").Add("kvsname", info_.kvsname).Add("key", key)
          : Message("kvs-get").Add("jobid", info_.kvsname).Add("srcid", -1).Add("key", key);
  Call(std::move(request), [done = std::move(done), key](absl::StatusOr<Message> reply) {
    if (!reply.ok()) {
      done(reply.status());
    } else if (std::optional<std::string> value = FoundValue(*reply)) {
      done(*std::move(value));
    } else {
      done(absl::NotFoundError(absl::StrCat("key ", key, " not found at the host")));
    }
  });
}

void PmiWireHost::Barrier(int rank, Done done) {
  if (protocol_ == WireProtocol::kPmi1) {
    Call(Message("barrier_in"), [done = std::move(done)](absl::StatusOr<Message> reply) {
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
        [done](absl::StatusOr<Message> got) { done(got.ok() ? absl::OkStatus() : got.status()); },
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

void PmiWireHost::SendAbort(int exit_code, absl::string_view text) {
  if (state_ == State::kLost || state_ == State::kAborted || !fd_.valid()) return;
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
  if (in_flight_ || queue_.empty() || !fd_.valid()) return;
  in_flight_ = true;
  if (options_.trace) options_.trace(true, queue_.front().message);
  Write(queue_.front().bytes);
}

void PmiWireHost::Write(std::string bytes) {
  outbox_ += bytes;
  Flush();
}

void PmiWireHost::Flush() {
  while (!outbox_.empty() && fd_.valid()) {
    const ssize_t n = ::send(fd_.get(), outbox_.data(), outbox_.size(), MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
    if (n < 0) {
      Closed(absl::StrCat("failed a write (", std::strerror(errno), ")"));
      return;
    }
    outbox_.erase(0, static_cast<size_t>(n));
  }
  if (!fd_.valid()) return;
  const bool want_out = !outbox_.empty();
  if (want_out != watching_out_) {
    watching_out_ = want_out;
    (void)loop_.Modify(fd_.get(), EPOLLIN | (want_out ? static_cast<uint32_t>(EPOLLOUT) : 0u));
  }
}

void PmiWireHost::OnEvents(uint32_t events) {
  if (events & (EPOLLIN | EPOLLHUP | EPOLLERR)) ReadAvailable();
  if (fd_.valid() && (events & EPOLLOUT)) Flush();
}

void PmiWireHost::ReadAvailable() {
  std::shared_ptr<bool> alive = alive_;
  char buffer[16 * 1024];
  while (*alive && fd_.valid()) {
    const ssize_t n = ::recv(fd_.get(), buffer, sizeof(buffer), MSG_DONTWAIT);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
    if (n <= 0) {
      Closed(n == 0 ? "closed the connection"
                    : absl::StrCat("failed (", std::strerror(errno), ")"));
      return;
    }
    if (state_ == State::kAborted || state_ == State::kFinalized) continue;  // nothing expected
    decoder_.Feed(absl::string_view(buffer, static_cast<size_t>(n)));
    HandleFrames();
  }
}

void PmiWireHost::HandleFrames() {
  std::shared_ptr<bool> alive = alive_;
  while (*alive && fd_.valid()) {
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
    CloseFd();
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
  CloseFd();
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
