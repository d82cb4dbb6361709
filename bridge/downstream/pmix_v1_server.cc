#include "bridge/downstream/pmix_v1_server.h"

#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "bridge/downstream/modex_codec.h"
#include "bridge/downstream/pmix_v1_store.h"
#include "bridge/upstream/process_mapping.h"
#include "common/log.h"
#include "common/sockets.h"
#include "common/status_macros.h"
#include "common/unique_fd.h"
#include "protocol/pmix_v1/compact_values.h"
#include "protocol/pmix_v1/connection_core.h"
#include "protocol/pmix_v1/constants.h"
#include "protocol/pmix_v1/job_data.h"
#include "protocol/pmix_v1/messages.h"

namespace pmi_shim::downstream {

namespace v1 = protocol::pmix_v1;
using pmix_v1_internal::Contribution;

namespace pmix_v1_internal {

absl::StatusOr<std::vector<int>> NodesFromMapping(absl::string_view mapping, int size) {
  ASSIGN_OR_RETURN(std::string plain, upstream::PlainProcessMapping(mapping, size, 1u << 20));
  // "(vector,(node,count,ppn),...)"
  absl::string_view rest = plain;
  if (!absl::ConsumePrefix(&rest, "(vector,") || !absl::ConsumeSuffix(&rest, ")")) {
    return absl::InvalidArgumentError(absl::StrCat("unreadable process mapping ", mapping));
  }
  std::vector<std::vector<int>> blocks;
  for (absl::string_view block : absl::StrSplit(rest, "),(")) {
    block = absl::StripPrefix(absl::StripSuffix(block, ")"), "(");
    std::vector<int> fields;
    for (absl::string_view field : absl::StrSplit(block, ',')) {
      int value = 0;
      if (!absl::SimpleAtoi(field, &value) || value < 0) {
        return absl::InvalidArgumentError(absl::StrCat("unreadable process mapping ", mapping));
      }
      fields.push_back(value);
    }
    if (fields.size() != 3 || fields[1] < 1 || fields[2] < 1) {
      return absl::InvalidArgumentError(absl::StrCat("unreadable process mapping ", mapping));
    }
    blocks.push_back(fields);
  }
  // Ranks fill the blocks in order; a map shorter than the job repeats
  // (the way MPICH reads it).
  std::vector<int> node_ids;
  while (static_cast<int>(node_ids.size()) < size) {
    for (const std::vector<int>& b : blocks) {
      for (int node = b[0]; node < b[0] + b[1]; ++node) {
        for (int i = 0; i < b[2] && static_cast<int>(node_ids.size()) < size; ++i) {
          node_ids.push_back(node);
        }
      }
    }
  }
  std::map<int, int> dense;
  std::vector<int> out;
  for (int id : node_ids) {
    auto [it, added] = dense.emplace(id, static_cast<int>(dense.size()));
    out.push_back(it->second);
  }
  return out;
}

std::string EncodeContribution(const Contribution& contribution) {
  v1::Packer out;
  out.PackInt(contribution.rank);
  out.PackBuffer(contribution.local);
  out.PackBuffer(contribution.remote);
  return out.Take();
}

absl::StatusOr<std::vector<Contribution>> DecodeContributions(absl::string_view blob) {
  v1::Unpacker in(blob);
  std::vector<Contribution> out;
  while (!in.AtEnd()) {
    Contribution c;
    ASSIGN_OR_RETURN(c.rank, in.UnpackInt());
    ASSIGN_OR_RETURN(c.local, in.UnpackBuffer());
    ASSIGN_OR_RETURN(c.remote, in.UnpackBuffer());
    out.push_back(std::move(c));
  }
  return out;
}

}  // namespace pmix_v1_internal

namespace {

constexpr char kServerNspace[] = "pmi-shim-v1-server";
constexpr char kHostKeyPrefix[] = "shim-v1-host-";
// sun_path holds 108 bytes; leave room for "/usock".
constexpr size_t kMaxDirectoryLength = 96;

std::string SafeNspace(absl::string_view kvsname) {
  std::string out;
  for (char c : kvsname.substr(0, v1::kMaxNspaceLength)) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '_' || c == '-' || c == '.';
    out += ok ? c : '_';
  }
  return out.empty() ? "pmi-shim" : out;
}

std::string LocalHostname() {
  char name[256] = {};
  if (::gethostname(name, sizeof(name) - 1) != 0 || name[0] == '\0') return "localhost";
  return name;
}

// Later values of a key win; keys keep the order they first appeared in.
void Merge(std::vector<v1::KeyValue>& into, std::vector<v1::KeyValue> more) {
  for (v1::KeyValue& kv : more) {
    auto it = std::find_if(into.begin(), into.end(),
                           [&](const v1::KeyValue& have) { return have.key == kv.key; });
    if (it != into.end()) {
      it->value = std::move(kv.value);
    } else {
      into.push_back(std::move(kv));
    }
  }
}

std::string PackKeyValues(const std::vector<v1::KeyValue>& kvals) {
  v1::Packer out;
  for (const v1::KeyValue& kv : kvals) out.PackKeyValue(kv);
  return out.Take();
}

}  // namespace

class PmixV1Server::Core {
 public:
  Core(EventLoop& loop, session::JobHost& host, Options options, std::string nspace,
       modex::CodecLimits limits)
      : loop_(loop),
        host_(host),
        options_(std::move(options)),
        nspace_(std::move(nspace)),
        exchange_(host, ModexExchange::Options{
                            host.info().size, {options_.rank}, {}, limits, "shim-v1"}) {}

  ~Core() {
    *alive_ = false;
    CloseConnection();
    if (listener_.valid()) {
      loop_.Unwatch(listener_.get());
      listener_.Reset();
      ::unlink(socket_path_.c_str());
    }
    store_.reset();
    if (owns_directory_) {
      std::error_code ignored;
      std::filesystem::remove_all(options_.directory, ignored);
    }
  }

  absl::Status Init();
  std::vector<std::string> ClientEnvironment() const;
  bool RankExited(absl::string_view how);

  const std::string& nspace() const { return nspace_; }
  const std::string& socket_path() const { return socket_path_; }
  bool connected() const { return connected_; }
  bool finalized() const { return finalized_; }

 private:
  // Job data.
  void StartSetup();
  std::vector<int> NodesFromHostMapping(const session::JobInfo& job);
  void StartSetupOnNodes(const std::vector<int>& nodes);
  void ExchangeHostNames(bool publish, std::function<std::vector<int>()> ranks);
  void ReadHostNames(std::vector<int> node_leaders);
  void FinishSetup(absl::Status status);
  absl::Status WriteRank(int rank);
  // Connection.
  void OnAccept();
  void OnReadable();
  void Flush();
  void CloseConnection();
  void ConnectionLost(std::string reason);
  void Handle(v1::Event& event);
  void Reply(uint32_t tag, const std::string& payload);
  // Commands.
  void OnHandshake(const v1::ConnectRequest& request);
  void OnJobInfoRequest(uint32_t tag);
  void OnCommit(const v1::CommitRequest& request);
  void OnFence(uint32_t tag, const v1::FenceRequest& request);
  void OnGet(uint32_t tag, const v1::GetRequest& request);
  void OnAbort(uint32_t tag, const v1::AbortRequest& request);
  void OnFinalize(uint32_t tag);
  // Stores a peer's contribution; false (logged) if it does not decode.
  bool Absorb(const Contribution& contribution);
  std::string PeerBlob(int rank) const;
  std::string Who() const { return absl::StrCat("rank ", options_.rank); }
  void Trace(absl::string_view what) const {
    if (options_.trace) log::Debug(absl::StrCat(Who(), ": PMIx v1 ", what));
  }

  EventLoop& loop_;
  session::JobHost& host_;
  Options options_;
  std::string nspace_;
  ModexExchange exchange_;
  bool owns_directory_ = false;
  std::string socket_path_;
  UniqueFd listener_;
  std::unique_ptr<PmixV1Store> store_;

  v1::JobLayout layout_;
  int local_node_ = 0;
  bool ready_ = false;
  std::optional<absl::Status> setup_failed_;
  std::vector<uint32_t> waiting_for_job_data_;  // REQ tags

  UniqueFd connection_;
  std::unique_ptr<v1::ConnectionCore> core_;
  std::string unsent_;
  bool connected_ = false;  // handshake accepted, rank claimed
  bool finalized_ = false;
  bool lost_reported_ = false;

  // This rank's committed data since the last fence, by scope.
  std::vector<v1::KeyValue> local_;
  std::vector<v1::KeyValue> remote_;
  // What peers contributed, as this node's clients may see it.
  std::map<int, std::vector<v1::KeyValue>> peers_;

  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

absl::Status PmixV1Server::Core::Init() {
  const session::JobInfo& job = host_.info();
  if (options_.rank < 0 || options_.rank >= job.size) {
    return absl::InvalidArgumentError(
        absl::StrCat("rank ", options_.rank, " is not in a job of ", job.size));
  }
  if (options_.uid == static_cast<uid_t>(-1)) options_.uid = ::geteuid();
  if (options_.hostname.empty()) options_.hostname = LocalHostname();
  if (options_.directory.empty()) {
    const char* env = ::getenv("TMPDIR");
    std::string parent = env != nullptr && *env != '\0' ? env : "/tmp";
    if (parent.size() + 24 > kMaxDirectoryLength || parent.find(':') != std::string::npos) {
      parent = "/tmp";
    }
    std::string pattern = absl::StrCat(parent, "/pmi-shim-v1.XXXXXX");
    if (::mkdtemp(pattern.data()) == nullptr) {
      return absl::ErrnoToStatus(errno, absl::StrCat("mkdtemp(", pattern, ")"));
    }
    options_.directory = pattern;
    owns_directory_ = true;
  }
  if (options_.directory_as_seen.empty()) options_.directory_as_seen = options_.directory;
  if (options_.directory_as_seen.size() > kMaxDirectoryLength ||
      options_.directory_as_seen.find(':') != std::string::npos) {
    return absl::InvalidArgumentError(absl::StrCat(
        "the PMIx v1 socket directory ", options_.directory_as_seen,
        " is too long for a Unix socket or holds a ':' (PMIX_SERVER_URI splits on ':')"));
  }
  socket_path_ = absl::StrCat(options_.directory, "/usock");
  ASSIGN_OR_RETURN(listener_, ListenUnix(socket_path_));
  RETURN_IF_ERROR(loop_.Watch(listener_.get(), EPOLLIN, [this](uint32_t) { OnAccept(); }));
  ASSIGN_OR_RETURN(store_,
                   PmixV1Store::Create(absl::StrCat(options_.directory, "/dstore"), nspace_));
  StartSetup();
  return absl::OkStatus();
}

std::vector<std::string> PmixV1Server::Core::ClientEnvironment() const {
  std::vector<std::string> env = {
      absl::StrCat("PMIX_NAMESPACE=", nspace_),
      absl::StrCat("PMIX_RANK=", options_.rank),
      absl::StrCat("PMIX_SERVER_URI=", kServerNspace, ":0:", options_.directory_as_seen, "/usock"),
      "PMIX_SECURITY_MODE=native",
  };
  for (std::string& entry : store_->ClientEnvironment(options_.directory_as_seen + "/dstore")) {
    env.push_back(std::move(entry));
  }
  return env;
}

// ---- job data ------------------------------------------------------------------

namespace {

// The lowest rank of each node, which publishes the node's name.
std::vector<int> NodeLeaders(const std::vector<int>& nodes, int node_count, int size) {
  std::vector<int> leaders(node_count, -1);
  for (int rank = 0; rank < size; ++rank) {
    if (leaders[nodes[rank]] < 0) leaders[nodes[rank]] = rank;
  }
  return leaders;
}

}  // namespace

void PmixV1Server::Core::StartSetup() {
  const session::JobInfo& job = host_.info();
  layout_.nspace = nspace_;
  layout_.size = job.size;
  layout_.universe_size = std::max(job.universe_size, job.size);
  layout_.appnum = job.appnum;
  const std::vector<int> nodes = NodesFromHostMapping(job);
  if (!nodes.empty()) {
    StartSetupOnNodes(nodes);
    return;
  }
  // No layout from the host: every rank publishes its host name and the
  // nodes are the distinct names.
  ExchangeHostNames(/*publish=*/true, [this] {
    std::vector<int> everyone(host_.info().size);
    for (int rank = 0; rank < static_cast<int>(everyone.size()); ++rank) {
      everyone[rank] = rank;
    }
    return everyone;
  });
}

// The node of each rank from the host's process mapping; empty when the host
// gives none or one that does not parse.
std::vector<int> PmixV1Server::Core::NodesFromHostMapping(const session::JobInfo& job) {
  if (!job.process_mapping.has_value()) return {};
  absl::StatusOr<std::vector<int>> parsed =
      pmix_v1_internal::NodesFromMapping(*job.process_mapping, job.size);
  if (!parsed.ok()) {
    log::Warning(absl::StrCat(Who(), ": ", parsed.status().message(),
                              "; the bridges exchange host names instead"));
    return {};
  }
  layout_.anl_map = *job.process_mapping;
  return std::move(*parsed);
}

void PmixV1Server::Core::StartSetupOnNodes(const std::vector<int>& nodes) {
  layout_.node_of_rank = nodes;
  local_node_ = nodes[options_.rank];
  const int node_count = *std::max_element(nodes.begin(), nodes.end()) + 1;
  layout_.node_names.assign(node_count, "");
  layout_.node_names[local_node_] = options_.hostname;
  if (node_count == 1) {
    FinishSetup(absl::OkStatus());
    return;
  }
  const std::vector<int> leaders = NodeLeaders(nodes, node_count, host_.info().size);
  ExchangeHostNames(leaders[local_node_] == options_.rank, [leaders] { return leaders; });
}

// Publishes this rank's host name (when `publish`), waits for every rank,
// then reads the names of `ranks()`.
void PmixV1Server::Core::ExchangeHostNames(bool publish, std::function<std::vector<int>()> ranks) {
  std::weak_ptr<bool> alive = alive_;
  auto after_put = [this, alive, ranks](absl::Status status) {
    if (alive.expired()) return;
    if (!status.ok()) return FinishSetup(status);
    host_.Barrier(options_.rank, [this, alive, ranks](absl::Status status) {
      if (alive.expired()) return;
      if (!status.ok()) return FinishSetup(status);
      ReadHostNames(ranks());
    });
  };
  if (publish) {
    host_.Put(options_.rank, absl::StrCat(kHostKeyPrefix, options_.rank), options_.hostname,
              after_put);
  } else {
    after_put(absl::OkStatus());
  }
}

// `ranks`: for a known layout, the leader of each node (-1: none); without
// one, every rank.
void PmixV1Server::Core::ReadHostNames(std::vector<int> ranks) {
  auto names = std::make_shared<std::vector<std::string>>(ranks.size());
  auto outstanding = std::make_shared<int>(0);
  auto failed = std::make_shared<absl::Status>();
  const bool by_node = !layout_.node_of_rank.empty();
  std::weak_ptr<bool> alive = alive_;
  auto finish = [this, alive, names, failed, ranks, by_node] {
    if (alive.expired()) return;
    if (!failed->ok()) return FinishSetup(*failed);
    if (by_node) {
      for (size_t node = 0; node < names->size(); ++node) {
        if (static_cast<int>(node) != local_node_) layout_.node_names[node] = (*names)[node];
      }
    } else {
      std::map<std::string, int> node_of_name;
      for (const std::string& name : *names) {
        auto [it, added] = node_of_name.emplace(name, static_cast<int>(layout_.node_names.size()));
        if (added) layout_.node_names.push_back(name);
        layout_.node_of_rank.push_back(it->second);
      }
      local_node_ = layout_.node_of_rank[options_.rank];
    }
    FinishSetup(absl::OkStatus());
  };
  for (size_t i = 0; i < ranks.size(); ++i) {
    if (ranks[i] < 0 || (by_node && static_cast<int>(i) == local_node_)) continue;
    if (!by_node && ranks[i] == options_.rank) {
      (*names)[i] = options_.hostname;
      continue;
    }
    ++*outstanding;
  }
  if (*outstanding == 0) return finish();
  for (size_t i = 0; i < ranks.size(); ++i) {
    if (ranks[i] < 0 || (by_node && static_cast<int>(i) == local_node_)) continue;
    if (!by_node && ranks[i] == options_.rank) continue;
    host_.Get(options_.rank, absl::StrCat(kHostKeyPrefix, ranks[i]),
              [names, outstanding, failed, finish, i,
               rank = ranks[i]](absl::StatusOr<std::string> value) {
                if (value.ok()) {
                  (*names)[i] = *value;
                } else if (failed->ok()) {
                  *failed = absl::Status(
                      value.status().code(),
                      absl::StrCat("the host name of rank ", rank, ": ", value.status().message()));
                }
                if (--*outstanding == 0) finish();
              });
  }
}

void PmixV1Server::Core::FinishSetup(absl::Status status) {
  if (status.ok()) status = v1::ValidateLayout(layout_);
  if (status.ok()) status = store_->Store(v1::kRankWildcard, v1::JobRecords(layout_, local_node_));
  for (int rank = 0; status.ok() && rank < layout_.size; ++rank) status = WriteRank(rank);
  if (!status.ok()) {
    setup_failed_ = status;
    log::Error(absl::StrCat(Who(), ": cannot prepare the PMIx v1 job data: ", status.message()));
  } else {
    ready_ = true;
    Trace(absl::StrCat("job data ready: ", layout_.node_names.size(), " node(s), local peers ",
                       v1::RankList(v1::RanksOnNode(layout_, local_node_))));
  }
  std::vector<uint32_t> waiting = std::move(waiting_for_job_data_);
  waiting_for_job_data_.clear();
  for (uint32_t tag : waiting) OnJobInfoRequest(tag);
}

absl::Status PmixV1Server::Core::WriteRank(int rank) {
  std::vector<v1::dstore::Record> records = v1::RankRecords(layout_, rank);
  auto it = peers_.find(rank);
  if (it != peers_.end()) {
    for (const v1::KeyValue& kv : it->second) records.emplace_back(kv.key, kv.value);
  }
  return store_->Store(rank, records);
}

// ---- connection ----------------------------------------------------------------

void PmixV1Server::Core::OnAccept() {
  UniqueFd fd(::accept4(listener_.get(), nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC));
  if (!fd.valid()) return;
  absl::StatusOr<ucred> peer = PeerCredentials(fd.get());
  if (!peer.ok() || peer->uid != options_.uid) {
    log::Error(absl::StrCat(Who(), ": refused a PMIx v1 connection from ",
                            peer.ok() ? absl::StrCat("uid ", peer->uid, " (pid ", peer->pid, ")")
                                      : std::string(peer.status().message()),
                            "; the job runs as uid ", options_.uid));
    return;
  }
  if (connection_.valid() || connected_) {
    log::Error(absl::StrCat(Who(), ": refused a second PMIx v1 connection (pid ", peer->pid,
                            "); the socket serves one client"));
    return;
  }
  v1::ConnectionCore::Options core_options;
  core_options.nspace = nspace_;
  core_options.rank = options_.rank;
  core_ = std::make_unique<v1::ConnectionCore>(core_options);
  connection_ = std::move(fd);
  absl::Status watched = loop_.Watch(connection_.get(), EPOLLIN, [this](uint32_t events) {
    if (events & EPOLLOUT) Flush();
    if (events & (EPOLLIN | EPOLLHUP | EPOLLERR)) OnReadable();
  });
  if (!watched.ok()) {
    log::Error(absl::StrCat(Who(), ": ", watched.message()));
    connection_.Reset();
  }
}

void PmixV1Server::Core::OnReadable() {
  char buffer[65536];
  while (connection_.valid()) {
    const ssize_t n = ::read(connection_.get(), buffer, sizeof(buffer));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
    if (n <= 0) {
      // A reset is a close with unread data: the client went away too.
      ConnectionLost(n == 0 || errno == ECONNRESET
                         ? "the PMIx v1 client closed its connection before PMIx_Finalize"
                         : absl::StrCat("reading from the PMIx v1 client: ", std::strerror(errno)));
      return;
    }
    std::vector<v1::Event> events;
    absl::Status fed = core_->Feed(absl::string_view(buffer, static_cast<size_t>(n)), events);
    std::weak_ptr<bool> alive = alive_;
    for (v1::Event& event : events) {
      Handle(event);
      if (alive.expired() || !connection_.valid()) return;
    }
    if (!fed.ok()) {
      log::Error(absl::StrCat(Who(), ": PMIx v1 client: ", fed.message()));
      Flush();  // a refusal the client can read
      ConnectionLost(absl::StrCat("PMIx v1 protocol error: ", fed.message()));
      return;
    }
  }
}

void PmixV1Server::Core::Reply(uint32_t tag, const std::string& payload) {
  if (core_ == nullptr || !connection_.valid()) return;
  core_->Reply(tag, payload);
  Flush();
}

void PmixV1Server::Core::Flush() {
  if (!connection_.valid()) return;
  if (core_ != nullptr) unsent_ += core_->TakeOutput();
  while (!unsent_.empty()) {
    const ssize_t n = ::send(connection_.get(), unsent_.data(), unsent_.size(), MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      (void)loop_.Modify(connection_.get(), EPOLLIN | EPOLLOUT);
      return;
    }
    if (n < 0) {
      unsent_.clear();  // the read side reports the loss
      return;
    }
    unsent_.erase(0, static_cast<size_t>(n));
  }
  (void)loop_.Modify(connection_.get(), EPOLLIN);
}

void PmixV1Server::Core::CloseConnection() {
  if (!connection_.valid()) return;
  loop_.Unwatch(connection_.get());
  connection_.Reset();
  unsent_.clear();
}

void PmixV1Server::Core::ConnectionLost(std::string reason) {
  CloseConnection();
  if (!connected_ || finalized_ || lost_reported_) return;
  lost_reported_ = true;
  host_.Lost(options_.rank, absl::StrCat(Who(), ": ", reason));
}

bool PmixV1Server::Core::RankExited(absl::string_view how) {
  if (!connected_ || finalized_ || lost_reported_) return false;
  lost_reported_ = true;
  CloseConnection();
  host_.Lost(options_.rank,
             absl::StrCat(Who(), ": the PMIx v1 client ", how, " without calling PMIx_Finalize"));
  return true;
}

void PmixV1Server::Core::Handle(v1::Event& event) {
  switch (event.kind) {
    case v1::Event::Kind::kHandshake:
      return OnHandshake(event.connect);
    case v1::Event::Kind::kRefused:
      log::Warning(
          absl::StrCat(Who(), ": PMIx v1 client: ", event.problem, "; answered with an error"));
      Flush();
      return;
    case v1::Event::Kind::kRequest:
      break;
  }
  switch (event.command) {
    case v1::Command::kRequestJobInfo:
      return OnJobInfoRequest(event.tag);
    case v1::Command::kCommit:
      return OnCommit(std::get<v1::CommitRequest>(event.body));
    case v1::Command::kFence:
      return OnFence(event.tag, std::get<v1::FenceRequest>(event.body));
    case v1::Command::kGet:
      return OnGet(event.tag, std::get<v1::GetRequest>(event.body));
    case v1::Command::kAbort:
      return OnAbort(event.tag, std::get<v1::AbortRequest>(event.body));
    case v1::Command::kFinalize:
      return OnFinalize(event.tag);
    default:
      return;  // the core answers everything else
  }
}

// ---- commands ------------------------------------------------------------------

void PmixV1Server::Core::OnHandshake(const v1::ConnectRequest& request) {
  absl::Status claimed = host_.ClaimRank(options_.rank);
  if (!claimed.ok()) {
    log::Error(absl::StrCat(Who(), ": PMIx v1 client refused: ", claimed.message()));
    core_->RefuseHandshake(v1::kErrInvalidArg);
    Flush();
    CloseConnection();
    return;
  }
  core_->AcceptHandshake();
  connected_ = true;
  Trace(absl::StrCat("client connected: version ", request.version, ", data store \"", request.gds,
                     "\""));
  Flush();
}

void PmixV1Server::Core::OnJobInfoRequest(uint32_t tag) {
  if (setup_failed_.has_value()) {
    Reply(tag, v1::EncodeStatusReply(v1::kErrUnreach));
    return;
  }
  if (!ready_) {
    waiting_for_job_data_.push_back(tag);
    return;
  }
  Trace("job data sent");
  Reply(tag, v1::EncodeJobInfoReply(nspace_, v1::PackedJobData(layout_, local_node_)));
}

void PmixV1Server::Core::OnCommit(const v1::CommitRequest& request) {
  for (const v1::ScopedBlob& blob : request.blobs) {
    absl::StatusOr<std::vector<v1::KeyValue>> kvals = v1::UnpackKeyValues(blob.kvals);
    if (!kvals.ok()) continue;  // the core checked them already
    Merge(blob.scope == v1::kScopeLocal ? local_ : remote_, std::move(*kvals));
  }
  // The client looks its own keys up in the store too (a v1.2 server
  // writes a committing client's data there): without them every get of
  // its own key would cost it a round trip to ask again.
  std::vector<v1::KeyValue>& own = peers_[options_.rank];
  own = remote_;
  Merge(own, local_);
  if (absl::Status stored = WriteRank(options_.rank); !stored.ok()) {
    log::Error(absl::StrCat(Who(), ": PMIx v1 store: ", stored.message()));
  }
  Trace(absl::StrCat("commit: ", local_.size(), " local, ", remote_.size(), " remote key(s)"));
}

void PmixV1Server::Core::OnFence(uint32_t tag, const v1::FenceRequest& request) {
  // Only job-wide fences: the wildcard of this nspace, or every rank.
  std::set<int> ranks;
  bool everyone = false;
  for (const v1::Proc& proc : request.procs) {
    if (proc.nspace != nspace_) continue;
    if (proc.rank == v1::kRankWildcard) everyone = true;
    ranks.insert(proc.rank);
  }
  if (!everyone && static_cast<int>(ranks.size()) != layout_.size) {
    log::Warning(absl::StrCat(Who(), ": PMIx v1 client: a fence over ", request.procs.size(),
                              " of ", layout_.size,
                              " ranks is not supported; answered with an error"));
    Reply(tag, v1::EncodeStatusReply(v1::kErrNotSupported));
    return;
  }
  // A PMIX_GLOBAL put lands in both scopes: send what local scope adds
  // beyond the remote data only, so the KVS carries each value once.
  std::vector<v1::KeyValue> local_only;
  for (const v1::KeyValue& kv : local_) {
    if (std::find(remote_.begin(), remote_.end(), kv) == remote_.end()) local_only.push_back(kv);
  }
  Contribution mine;
  mine.rank = options_.rank;
  mine.local = v1::EncodeCompact(local_only);
  mine.remote = v1::EncodeCompact(remote_);
  ModexExchange::FenceInput input;
  input.collect = request.collect;
  input.blob = pmix_v1_internal::EncodeContribution(mine);
  // Without collection the peers fetch this rank's data by direct get; a
  // collecting fence hands it to everyone already.
  if (!request.collect) input.direct = {{options_.rank, input.blob}};
  Trace(absl::StrCat("fence (", request.collect ? "collect" : "no collect", ", ", input.blob.size(),
                     " bytes)"));
  std::weak_ptr<bool> alive = alive_;
  exchange_.Fence(std::move(input), [this, alive, tag](absl::StatusOr<std::string> result) {
    if (alive.expired()) return;
    if (!result.ok()) {
      log::Error(absl::StrCat(Who(), ": PMIx v1 fence failed: ", result.status().message()));
      Reply(tag, v1::EncodeStatusReply(v1::kError));
      return;
    }
    absl::StatusOr<std::vector<Contribution>> all = pmix_v1_internal::DecodeContributions(*result);
    if (!all.ok()) {
      log::Error(absl::StrCat(Who(), ": PMIx v1 fence data: ", all.status().message()));
      Reply(tag, v1::EncodeStatusReply(v1::kError));
      return;
    }
    bool ok = true;
    for (const Contribution& c : *all) {
      if (c.rank != options_.rank) ok = Absorb(c) && ok;
    }
    Trace(absl::StrCat("fence done: data of ", all->size(), " rank(s)"));
    Reply(tag, v1::EncodeStatusReply(ok ? v1::kSuccess : v1::kError));
  });
}

bool PmixV1Server::Core::Absorb(const Contribution& c) {
  if (c.rank < 0 || c.rank >= layout_.size) {
    log::Error(absl::StrCat(Who(), ": PMIx v1 data names rank ", c.rank));
    return false;
  }
  absl::StatusOr<std::vector<v1::KeyValue>> remote = v1::DecodeCompact(c.remote);
  absl::StatusOr<std::vector<v1::KeyValue>> local = v1::DecodeCompact(c.local);
  if (!remote.ok() || !local.ok()) {
    log::Error(absl::StrCat(Who(), ": PMIx v1 data of rank ", c.rank, " is corrupt"));
    return false;
  }
  std::vector<v1::KeyValue>& kvals = peers_[c.rank];
  Merge(kvals, std::move(*remote));
  // Local scope reaches only ranks on the same node.
  if (layout_.node_of_rank[c.rank] == local_node_) Merge(kvals, std::move(*local));
  absl::Status stored = WriteRank(c.rank);
  if (!stored.ok()) {
    log::Error(absl::StrCat(Who(), ": PMIx v1 store: ", stored.message()));
    return false;
  }
  return true;
}

std::string PmixV1Server::Core::PeerBlob(int rank) const {
  auto it = peers_.find(rank);
  return it == peers_.end() ? std::string() : PackKeyValues(it->second);
}

void PmixV1Server::Core::OnGet(uint32_t tag, const v1::GetRequest& request) {
  if (request.nspace != nspace_) {
    Reply(tag, v1::EncodeGetReply(v1::kErrInvalidNamespace, {}));
    return;
  }
  const int rank = request.rank;
  if (rank == v1::kRankWildcard || rank == v1::kRankUndef || rank == options_.rank) {
    // Nothing more to fetch: the client looks in what it has.
    Reply(tag, v1::EncodeGetReply(v1::kSuccess, {}));
    return;
  }
  if (rank < 0 || rank >= layout_.size) {
    Reply(tag, v1::EncodeGetReply(v1::kErrNotFound, {}));
    return;
  }
  if (peers_.count(rank) != 0) {
    Reply(tag, v1::EncodeGetReply(v1::kSuccess, {{rank, PeerBlob(rank)}}));
    return;
  }
  Trace(absl::StrCat("direct get of rank ", rank));
  std::weak_ptr<bool> alive = alive_;
  exchange_.DirectModex(rank, [this, alive, tag, rank](absl::StatusOr<std::string> blob) {
    if (alive.expired()) return;
    if (!blob.ok()) {
      Reply(tag, v1::EncodeGetReply(v1::kErrNotFound, {}));
      return;
    }
    absl::StatusOr<std::vector<Contribution>> all = pmix_v1_internal::DecodeContributions(*blob);
    if (!all.ok() || all->size() != 1 || (*all)[0].rank != rank || !Absorb((*all)[0])) {
      Reply(tag, v1::EncodeGetReply(v1::kError, {}));
      return;
    }
    Reply(tag, v1::EncodeGetReply(v1::kSuccess, {{rank, PeerBlob(rank)}}));
  });
}

void PmixV1Server::Core::OnAbort(uint32_t tag, const v1::AbortRequest& request) {
  Trace(absl::StrCat("abort ", request.status, ": ", request.message));
  // Marked first: the client's exit that follows is not a loss.
  finalized_ = true;
  host_.Abort(options_.rank, request.status,
              request.message.empty() ? "PMIx_Abort" : request.message);
  Reply(tag, v1::EncodeStatusReply(v1::kSuccess));
}

void PmixV1Server::Core::OnFinalize(uint32_t tag) {
  Trace("finalize");
  finalized_ = true;
  host_.Finalized(options_.rank);
  Reply(tag, v1::EncodeStatusReply(v1::kSuccess));
}

// ---- PmixV1Server ---------------------------------------------------------------

absl::StatusOr<std::unique_ptr<PmixV1Server>> PmixV1Server::Start(EventLoop& loop,
                                                                  session::JobHost& host,
                                                                  Options options) {
  const session::JobInfo& job = host.info();
  std::string nspace = options.nspace.empty() ? SafeNspace(job.kvsname) : options.nspace;
  if (nspace.size() > v1::kMaxNspaceLength || SafeNspace(nspace) != nspace) {
    return absl::InvalidArgumentError(
        absl::StrCat("\"", nspace, "\" is not a usable PMIx namespace"));
  }
  modex::CodecLimits limits;
  limits.max_key_bytes = static_cast<size_t>(std::max(16, job.limits.keylen_max - 1));
  const int derived =
      job.limits.vallen_max - static_cast<int>(job.kvsname.size()) - job.limits.keylen_max - 30;
  limits.max_value_bytes =
      static_cast<size_t>(std::min(std::max(derived, 96), job.limits.vallen_max - 1));
  auto core = std::make_unique<Core>(loop, host, std::move(options), std::move(nspace), limits);
  RETURN_IF_ERROR(core->Init());
  return std::unique_ptr<PmixV1Server>(new PmixV1Server(std::move(core)));
}

PmixV1Server::PmixV1Server(std::unique_ptr<Core> core) : core_(std::move(core)) {}
PmixV1Server::~PmixV1Server() = default;

std::vector<std::string> PmixV1Server::ClientEnvironment() const {
  return core_->ClientEnvironment();
}
const std::string& PmixV1Server::nspace() const { return core_->nspace(); }
const std::string& PmixV1Server::socket_path() const { return core_->socket_path(); }
bool PmixV1Server::Connected() const { return core_->connected(); }
bool PmixV1Server::Finalized() const { return core_->finalized(); }
bool PmixV1Server::RankExited(absl::string_view how) { return core_->RankExited(how); }

}  // namespace pmi_shim::downstream
