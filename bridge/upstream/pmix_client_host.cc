#include "bridge/upstream/pmix_client_host.h"

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/mutex.h"
#include "bridge/pmix/status.h"
#include "bridge/pmix/value.h"
#include "bridge/upstream/pmix_value_codec.h"
#include "bridge/upstream/process_mapping.h"
#include "common/log.h"
#include "common/status_macros.h"

extern char** environ;

namespace pmi_shim::upstream {
namespace {

// libpmix keeps one connection per process: PMIx_Init is reference counted
// and the second caller would share (and later finalize) the first's.
std::atomic<bool> g_connected{false};

// libpmix's event handlers get no user pointer, so the loss handler finds
// the (single) host here.
struct LossTarget {
  EventLoop* loop = nullptr;
  std::weak_ptr<PmixClientHost*> host;
};
ABSL_CONST_INIT absl::Mutex g_loss_mutex(absl::kConstInit);
LossTarget& GetLossTarget() {
  static LossTarget* target = new LossTarget;  // never destroyed: used at exit
  return *target;
}

struct ValueDeleter {
  void operator()(pmix_value_t* value) const { PMIX_VALUE_RELEASE(value); }
};
using ValuePtr = std::unique_ptr<pmix_value_t, ValueDeleter>;

// A blocking PMIx_Get that only looks at what this process already holds.
// Job facts arrive with PMIx_Init, so PMIX_OPTIONAL never costs a round trip
// and a missing fact is NotFound instead of a wait for a put that never comes.
absl::StatusOr<ValuePtr> GetLocal(const pmix_proc_t& proc, const char* key) {
  pmix_info_t optional;
  PMIX_INFO_CONSTRUCT(&optional);
  PMIX_INFO_LOAD(&optional, PMIX_OPTIONAL, nullptr, PMIX_BOOL);
  pmix_value_t* value = nullptr;
  pmix_status_t rc = PMIx_Get(&proc, key, &optional, 1, &value);
  PMIX_INFO_DESTRUCT(&optional);
  if (rc != PMIX_SUCCESS) return pmix::FromPmix(rc, absl::StrCat("PMIx_Get(", key, ")"));
  if (value == nullptr) return absl::NotFoundError(absl::StrCat(key, " has no value"));
  return ValuePtr(value);
}

absl::StatusOr<uint64_t> GetLocalUint(const pmix_proc_t& proc, const char* key) {
  ASSIGN_OR_RETURN(ValuePtr value, GetLocal(proc, key));
  absl::StatusOr<uint64_t> number = pmix::ValueToUint(*value);
  if (!number.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(key, ": ", number.status().message()));
  }
  return number;
}

absl::StatusOr<std::string> GetLocalString(const pmix_proc_t& proc, const char* key) {
  ASSIGN_OR_RETURN(ValuePtr value, GetLocal(proc, key));
  return pmix::ValueToString(*value);
}

pmix_proc_t ProcOf(const pmix_proc_t& me, pmix_rank_t rank) {
  pmix_proc_t proc;
  PMIX_PROC_CONSTRUCT(&proc);
  PMIX_LOAD_PROCID(&proc, me.nspace, rank);
  return proc;
}

// Without a namespace and a server URI, PMIx_Init would not fail: it would
// make this process a singleton (rank 0 of 1), which is exactly the
// "N processes that each believe they are rank 0" symptom the bridge exists
// to prevent.
absl::Status CheckPmixEnvironment() {
  const char* nspace = getenv("PMIX_NAMESPACE");
  bool has_uri = false;
  for (char** entry = environ; *entry != nullptr; ++entry) {
    if (absl::StartsWith(*entry, "PMIX_SERVER_URI")) has_uri = true;
  }
  if (nspace == nullptr || *nspace == '\0' || !has_uri) {
    return absl::FailedPreconditionError(absl::StrCat(
        "no PMIx server to connect to (",
        nspace == nullptr || *nspace == '\0' ? "PMIX_NAMESPACE" : "PMIX_SERVER_URI*",
        " is not set); start this under a PMIx launcher such as mpirun.openmpi, prterun or "
        "srun --mpi=pmix"));
  }
  if (getenv("PMIX_RANK") == nullptr) {
    return absl::FailedPreconditionError(
        "PMIX_NAMESPACE is set but PMIX_RANK is not; the PMIx environment is incomplete");
  }
  return absl::OkStatus();
}

}  // namespace

// One libpmix call in flight. libpmix keeps pointers to the proc, key and
// info array of a PMIx_Get_nb until it calls back (pmix_client_get.c stores
// them in its request), so they live here, not on the caller's stack.
struct PmixClientHost::Request {
  EventLoop* loop = nullptr;
  std::weak_ptr<PmixClientHost*> host;
  Registry* registry = nullptr;
  uint64_t id = 0;
  std::string what;  // context for errors, e.g. "PMIx get of k1 from rank 3"
  pmix_proc_t proc;
  std::string key;
  pmix_info_t* info = nullptr;
  size_t ninfo = 0;

  ~Request() {
    if (info != nullptr) PMIX_INFO_FREE(info, ninfo);
  }
};

// The requests handed to libpmix and not yet called back. The progress
// thread takes each back when it answers; whatever libpmix never answers
// (requests cut short by PMIx_Finalize) is freed by Clear().
class PmixClientHost::Registry {
 public:
  Request* Add(std::unique_ptr<Request> request) {
    Request* raw = request.get();
    absl::MutexLock lock(&mutex_);
    live_.emplace(raw, std::move(request));
    return raw;
  }
  std::unique_ptr<Request> Take(Request* raw) {
    absl::MutexLock lock(&mutex_);
    auto node = live_.extract(raw);
    return node.empty() ? nullptr : std::move(node.mapped());
  }
  void Clear() {
    absl::MutexLock lock(&mutex_);
    live_.clear();
  }

 private:
  absl::Mutex mutex_;
  absl::flat_hash_map<Request*, std::unique_ptr<Request>> live_ ABSL_GUARDED_BY(mutex_);
};

absl::StatusOr<std::unique_ptr<PmixClientHost>> PmixClientHost::Connect(EventLoop& loop,
                                                                        Options options) {
  RETURN_IF_ERROR(CheckPmixEnvironment());
  if (g_connected.exchange(true)) {
    return absl::FailedPreconditionError(
        "this process already has a PMIx connection; only one PmixClientHost may exist");
  }
  pmix_proc_t me;
  PMIX_PROC_CONSTRUCT(&me);
  pmix_status_t rc = PMIx_Init(&me, nullptr, 0);
  if (rc != PMIX_SUCCESS) {
    g_connected = false;
    return absl::UnavailableError(absl::StrCat(
        "cannot connect to the PMIx server of namespace ", getenv("PMIX_NAMESPACE"),
        " (PMIx_Init: ", PMIx_Error_string(rc),
        "); the launcher may be gone, or this process cannot reach its loopback address"));
  }
  std::unique_ptr<PmixClientHost> host(new PmixClientHost(loop, std::move(options), me));
  RETURN_IF_ERROR(host->LoadJobInfo());
  RETURN_IF_ERROR(host->RegisterLossHandler());
  return host;
}

PmixClientHost::PmixClientHost(EventLoop& loop, Options options, const pmix_proc_t& me)
    : loop_(loop),
      options_(std::move(options)),
      me_(me),
      rank_(static_cast<int>(me.rank)),
      self_(std::make_shared<PmixClientHost*>(this)),
      registry_(std::make_unique<Registry>()),
      initialized_(true) {}

PmixClientHost::~PmixClientHost() {
  for (auto& [id, wait] : node_attr_waits_) {
    if (wait.timer != 0) loop_.CancelTimer(wait.timer);
  }
  self_.reset();  // tasks already posted to the loop become no-ops
  Shutdown();
  g_connected = false;
}

absl::Status PmixClientHost::LoadJobInfo() {
  const pmix_proc_t job = ProcOf(me_, PMIX_RANK_WILDCARD);
  absl::StatusOr<uint64_t> size = GetLocalUint(job, PMIX_JOB_SIZE);
  if (!size.ok() || *size == 0 || *size > INT_MAX || me_.rank >= *size) {
    return absl::InternalError(absl::StrCat(
        "the PMIx server gives no usable job size for rank ", me_.rank, " (",
        size.ok() ? absl::StrCat("PMIX_JOB_SIZE=", *size) : size.status().ToString(), ")"));
  }
  info_.kvsname = me_.nspace;
  info_.size = static_cast<int>(*size);
  // Oversubscribed Open MPI reports its slot count (2 on a 2-core machine
  // running 4 ranks); PMI servers never give a universe smaller than the job.
  const uint64_t universe = GetLocalUint(job, PMIX_UNIV_SIZE).value_or(*size);
  info_.universe_size = static_cast<int>(std::min<uint64_t>(std::max(universe, *size), INT_MAX));
  // Open MPI gives the appnum per process, not for the job (wildcard).
  info_.appnum = static_cast<int>(GetLocalUint(me_, PMIX_APPNUM).value_or(0));
  if (absl::StatusOr<std::string> peers = GetLocalString(job, PMIX_LOCAL_PEERS); peers.ok()) {
    local_peers_ = ParseRankList(*peers).value_or(std::vector<int>());
  }
  info_.process_mapping = DiscoverProcessMapping();
  log::Debug(absl::StrCat("PMIx job ", info_.kvsname, ": rank ", rank_, " of ", info_.size,
                          ", universe ", info_.universe_size, ", appnum ", info_.appnum,
                          ", mapping ", info_.process_mapping.value_or("(none)")));
  return absl::OkStatus();
}

// Slurm's PMIx plugin gives PMIX_ANL_MAP; PRRTE and Open MPI do not, so
// the layout is rebuilt from the node map (one resolve per node), else from
// every rank's node id, else from the local peers when they are the job.
// Values are plain 3-tuples within the PMI value limit, or the key is left
// out as Hydra and Flux do (MPICH then exchanges host names; a longer value
// crashes older clients).
std::optional<std::string> PmixClientHost::DiscoverProcessMapping() {
  const size_t max_length = info_.limits.vallen_max - 1;  // vallen_max counts the NUL
  absl::StatusOr<std::string> mapping = absl::NotFoundError("PMIx gives no node layout");
  if (absl::StatusOr<std::string> anl =
          GetLocalString(ProcOf(me_, PMIX_RANK_WILDCARD), PMIX_ANL_MAP);
      anl.ok() && !anl->empty()) {
    mapping = PlainProcessMapping(*anl, info_.size, max_length);
  } else if (std::optional<std::vector<int>> nodes = NodesFromResolve()) {
    mapping = ProcessMappingFromNodes(*nodes, max_length);
  } else if (std::optional<std::vector<int>> ids = NodesFromNodeIds()) {
    mapping = ProcessMappingFromNodes(*ids, max_length);
  } else if (static_cast<int>(local_peers_.size()) == info_.size) {
    mapping = SingleNodeMapping(info_.size);
  }
  if (!mapping.ok()) {
    log::Info(absl::StrCat("PMI_process_mapping is left out: ", mapping.status().message()));
    return std::nullopt;
  }
  return *mapping;
}

std::optional<std::vector<int>> PmixClientHost::NodesFromResolve() const {
  char* node_list = nullptr;
  if (PMIx_Resolve_nodes(me_.nspace, &node_list) != PMIX_SUCCESS || node_list == nullptr) {
    return std::nullopt;
  }
  const std::string hosts(node_list);
  free(node_list);
  std::vector<std::vector<int>> ranks_per_node;
  for (absl::string_view host : absl::StrSplit(hosts, ',', absl::SkipEmpty())) {
    pmix_proc_t* procs = nullptr;
    size_t count = 0;
    const std::string name(host);
    pmix_status_t rc = PMIx_Resolve_peers(name.c_str(), me_.nspace, &procs, &count);
    if (rc != PMIX_SUCCESS && rc != PMIX_ERR_NOT_FOUND) return std::nullopt;
    std::vector<int>& ranks = ranks_per_node.emplace_back();
    for (size_t i = 0; i < count; ++i) ranks.push_back(static_cast<int>(procs[i].rank));
    if (procs != nullptr) PMIX_PROC_FREE(procs, count);
  }
  absl::StatusOr<std::vector<int>> nodes = NodesFromPeerLists(info_.size, ranks_per_node);
  if (!nodes.ok()) {
    log::Debug(absl::StrCat("PMIx node map unusable: ", nodes.status().message()));
    return std::nullopt;
  }
  return *nodes;
}

std::optional<std::vector<int>> PmixClientHost::NodesFromNodeIds() const {
  std::vector<int> nodes;
  for (int rank = 0; rank < info_.size; ++rank) {
    absl::StatusOr<uint64_t> node = GetLocalUint(ProcOf(me_, rank), PMIX_NODEID);
    if (!node.ok()) return std::nullopt;
    nodes.push_back(static_cast<int>(*node));
  }
  return nodes;
}

absl::Status PmixClientHost::RegisterLossHandler() {
  {
    absl::MutexLock lock(&g_loss_mutex);
    GetLossTarget() = LossTarget{&loop_, self_};
  }
  pmix_status_t codes[] = {PMIX_ERR_LOST_CONNECTION, PMIX_ERR_UNREACH};
  pmix_info_t name;
  PMIX_INFO_CONSTRUCT(&name);
  PMIX_INFO_LOAD(&name, PMIX_EVENT_HDLR_NAME, "pmi-shim upstream loss", PMIX_STRING);
  // With no registration callback the call blocks and returns the
  // handler's id, or a negative error.
  pmix_status_t id =
      PMIx_Register_event_handler(codes, 2, &name, 1, &OnLossEvent, nullptr, nullptr);
  PMIX_INFO_DESTRUCT(&name);
  if (id < 0) return pmix::FromPmix(id, "registering for PMIx connection-loss events");
  loss_handler_id_ = static_cast<size_t>(id);
  loss_handler_registered_ = true;
  return absl::OkStatus();
}

absl::Status PmixClientHost::ClaimRank(int rank) {
  if (rank < 0 || rank >= info_.size) {
    return absl::OutOfRangeError(
        absl::StrCat("rank ", rank, " is outside the job (size ", info_.size, ")"));
  }
  if (rank != rank_) {
    return absl::InvalidArgumentError(
        absl::StrCat("the client claims rank ", rank, " but this bridge is rank ", rank_,
                     " of the PMIx job; check PMI_RANK/PMI_ID in the client's environment"));
  }
  if (claimed_) {
    return absl::FailedPreconditionError(absl::StrCat(
        "rank ", rank, " is already connected; two processes claim the same PMI_ID/PMI_RANK"));
  }
  claimed_ = true;
  return absl::OkStatus();
}

void PmixClientHost::ReleaseRank(int rank) {
  if (rank == rank_) claimed_ = false;
}

absl::Status PmixClientHost::CheckUsable(int rank) const {
  if (rank != rank_) {
    return absl::InvalidArgumentError(
        absl::StrCat("rank ", rank, " is not served here (this bridge is rank ", rank_, ")"));
  }
  if (lost_reason_.has_value()) return absl::UnavailableError(*lost_reason_);
  if (!initialized_) return absl::FailedPreconditionError("the PMIx connection is finalized");
  return absl::OkStatus();
}

absl::Status PmixClientHost::PutString(pmix_scope_t scope, const std::string& pmix_key,
                                       const std::string& value) {
  pmix_value_t pmix_value;
  PMIX_VALUE_CONSTRUCT(&pmix_value);
  pmix_value.type = PMIX_STRING;
  // PMIx_Put copies the value before it returns.
  pmix_value.data.string = const_cast<char*>(value.c_str());
  absl::Status status = pmix::FromPmix(PMIx_Put(scope, pmix_key.c_str(), &pmix_value),
                                           absl::StrCat("PMIx put of ", pmix_key));
  if (absl::IsUnavailable(status)) ReportLost(status.message());
  return status;
}

absl::Status PmixClientHost::PutKeyDirectory() {
  const std::string bytes =
      EncodeKeyDirectory(std::vector<std::string>(epoch_keys_.begin(), epoch_keys_.end()));
  const std::string key = KeyDirectoryKey(epoch_);
  pmix_value_t value;
  PMIX_VALUE_CONSTRUCT(&value);
  value.type = PMIX_BYTE_OBJECT;
  value.data.bo.bytes = const_cast<char*>(bytes.data());
  value.data.bo.size = bytes.size();
  absl::Status status = pmix::FromPmix(PMIx_Put(PMIX_GLOBAL, key.c_str(), &value),
                                           absl::StrCat("PMIx put of ", key));
  if (absl::IsUnavailable(status)) ReportLost(status.message());
  return status;
}

absl::Status PmixClientHost::Commit() {
  absl::Status status = pmix::FromPmix(PMIx_Commit(), "PMIx commit");
  if (absl::IsUnavailable(status)) ReportLost(status.message());
  return status;
}

void PmixClientHost::Put(int rank, std::string key, std::string value, Done done) {
  absl::Status status = CheckUsable(rank);
  if (status.ok()) status = PutString(PMIX_GLOBAL, ToPmixKey(KeyScope::kJob, key), value);
  if (status.ok()) {
    epoch_keys_.insert(key);
    own_kvs_[std::move(key)] = std::move(value);  // a later put of a key wins
  }
  done(status);
}

void PmixClientHost::Get(int rank, std::string key, GetDone done) {
  if (absl::Status status = CheckUsable(rank); !status.ok()) {
    done(status);
    return;
  }
  if (key == "PMI_process_mapping" && info_.process_mapping.has_value()) {
    done(*info_.process_mapping);
    return;
  }
  if (auto own = own_kvs_.find(key); own != own_kvs_.end()) {
    done(own->second);
    return;
  }
  auto owner = key_owner_.find(key);
  if (owner == key_owner_.end()) {
    // Covers MPICH's "-NONEXIST-KEY" probe: answered at once, never waited for.
    done(absl::NotFoundError(
        absl::StrCat("key ", key, " was not put by any rank before the last barrier")));
    return;
  }
  GetFrom(owner->second, ToPmixKey(KeyScope::kJob, key), std::move(done));
}

// A PMI-1 client never sends a commit (PMI_KVS_Commit is local), so every
// barrier commits; the fence collects the data so that later gets are local.
void PmixClientHost::Barrier(int rank, Done done) {
  if (absl::Status status = CheckUsable(rank); !status.ok()) {
    done(status);
    return;
  }
  if (barrier_active_) {
    done(absl::FailedPreconditionError(absl::StrCat("rank ", rank, " entered the barrier twice")));
    return;
  }
  if (absl::Status status = PutKeyDirectory(); !status.ok()) {
    done(status);
    return;
  }
  if (absl::Status status = Commit(); !status.ok()) {
    done(status);
    return;
  }
  barrier_active_ = true;
  Request* request =
      NewRequest(absl::StrCat("PMIx fence of barrier ", epoch_ + 1),
                 [this, done = std::move(done)](absl::StatusOr<std::string> result) mutable {
                   OnFenced(result.status(), std::move(done));
                 });
  PMIX_INFO_CREATE(request->info, 1);
  request->ninfo = 1;
  bool collect = true;
  PMIX_INFO_LOAD(&request->info[0], PMIX_COLLECT_DATA, &collect, PMIX_BOOL);
  pmix_status_t rc = PMIx_Fence_nb(nullptr, 0, request->info, request->ninfo, &OnOpDone, request);
  if (rc != PMIX_SUCCESS) FailRequest(request, rc);
}

void PmixClientHost::OnFenced(absl::Status status, Done done) {
  if (!status.ok()) {
    barrier_active_ = false;
    done(status);
    return;
  }
  std::vector<int> others;
  for (int rank = 0; rank < info_.size; ++rank) {
    if (rank != rank_) others.push_back(rank);
  }
  GetFromEach(others, KeyDirectoryKey(epoch_),
              [this, others, done = std::move(done)](Replies directories) mutable {
                OnKeyDirectories(others, std::move(directories), std::move(done));
              });
}

void PmixClientHost::OnKeyDirectories(const std::vector<int>& ranks, Replies directories,
                                      Done done) {
  barrier_active_ = false;
  // Walk ranks downwards so that, within one barrier, the lowest rank that
  // put a key owns it: every bridge of the job picks the same one.
  for (size_t i = directories.size(); i-- > 0;) {
    absl::StatusOr<std::vector<std::string>> keys =
        directories[i].ok() ? DecodeKeyDirectory(*directories[i])
                            : absl::StatusOr<std::vector<std::string>>(directories[i].status());
    if (!keys.ok()) {
      done(absl::IsUnavailable(keys.status())
               ? keys.status()
               : absl::FailedPreconditionError(
                     absl::StrCat("rank ", ranks[i], " published no pmi-shim key list at barrier ",
                                  epoch_ + 1, " (", keys.status().message(),
                                  "); every rank of the job must run through pmi-bridge")));
      return;
    }
    for (std::string& key : *keys) key_owner_[std::move(key)] = ranks[i];
  }
  ++epoch_;
  epoch_keys_.clear();
  done(absl::OkStatus());
}

// PMI-2 node attributes are only visible on the node (PMIX_LOCAL); the
// commit makes them visible to local peers at once, without a fence.
void PmixClientHost::PutNodeAttr(int rank, std::string key, std::string value, Done done) {
  absl::Status status = CheckUsable(rank);
  if (status.ok()) status = PutString(PMIX_LOCAL, ToPmixKey(KeyScope::kNode, key), value);
  if (status.ok()) status = Commit();
  if (status.ok()) own_node_attrs_[std::move(key)] = std::move(value);
  done(status);
}

void PmixClientHost::GetNodeAttr(int rank, std::string key, bool wait, GetDone done) {
  if (absl::Status status = CheckUsable(rank); !status.ok()) {
    done(status);
    return;
  }
  if (auto own = own_node_attrs_.find(key); own != own_node_attrs_.end()) {
    done(own->second);
    return;
  }
  const uint64_t wait_id = next_id_++;
  node_attr_waits_[wait_id] = NodeAttrWait{std::move(key), wait, std::move(done), 0};
  PollNodeAttr(wait_id);
}

// The ranks that may have put a node attribute visible here.
std::vector<int> PmixClientHost::NodePeers() const {
  std::vector<int> peers;
  if (local_peers_.empty()) {  // unknown: ask everyone, remote ranks answer not-found
    for (int rank = 0; rank < info_.size; ++rank) peers.push_back(rank);
  } else {
    peers = local_peers_;
  }
  peers.erase(std::remove(peers.begin(), peers.end(), rank_), peers.end());
  return peers;
}

// PMIx cannot wait for "any rank's" key: asking a given rank without
// PMIX_IMMEDIATE would block until that rank puts it, which it may never do.
// So every local peer is asked with PMIX_IMMEDIATE, again after a pause
// while the client waits.
void PmixClientHost::PollNodeAttr(uint64_t wait_id) {
  auto it = node_attr_waits_.find(wait_id);
  if (it == node_attr_waits_.end()) return;
  it->second.timer = 0;
  GetFromEach(NodePeers(), ToPmixKey(KeyScope::kNode, it->second.key),
              [this, wait_id](Replies replies) { OnNodeAttrReplies(wait_id, std::move(replies)); });
}

void PmixClientHost::OnNodeAttrReplies(uint64_t wait_id, Replies replies) {
  auto it = node_attr_waits_.find(wait_id);
  if (it == node_attr_waits_.end()) return;  // failed by the upstream loss
  std::optional<absl::StatusOr<std::string>> answer;
  for (absl::StatusOr<std::string>& reply : replies) {
    if (reply.ok() || absl::IsUnavailable(reply.status())) {
      answer = std::move(reply);
      break;
    }
  }
  if (!answer.has_value() && !it->second.wait) {
    answer = absl::NotFoundError(absl::StrCat("node attribute ", it->second.key, " not found"));
  }
  if (answer.has_value()) {
    GetDone done = std::move(it->second.done);
    node_attr_waits_.erase(it);
    done(std::move(*answer));
    return;
  }
  it->second.timer =
      loop_.AddTimer(options_.node_attr_poll, [self = std::weak_ptr(self_), wait_id] {
        if (auto host = self.lock()) (*host)->PollNodeAttr(wait_id);
      });
}

void PmixClientHost::Abort(int rank, int exit_code, std::string message) {
  log::Info(absl::StrCat("rank ", rank, " aborts the PMIx job with exit code ", exit_code,
                         message.empty() ? "" : ": ", message));
  StartAbort(exit_code, std::move(message));
}

void PmixClientHost::Lost(int rank, std::string reason) { StartAbort(1, std::move(reason)); }

// PMIx_Abort blocks until the server has acted on it (usually by killing
// the job, this process included), so it runs on its own thread and the loop
// stays free to serve the client meanwhile.
void PmixClientHost::StartAbort(int exit_code, std::string message) {
  if (aborting_ || !initialized_ || lost_reason_.has_value()) return;
  aborting_ = true;
  abort_thread_ = std::thread(
      [loop = &loop_, self = std::weak_ptr(self_), exit_code, message = std::move(message)] {
        pmix_status_t rc = PMIx_Abort(exit_code, message.c_str(), nullptr, 0);
        if (rc == PMIX_SUCCESS) return;
        loop->Post([self, rc] {
          if (self.lock() == nullptr) return;
          log::Warning(absl::StrCat("PMIx_Abort failed (", PMIx_Error_string(rc),
                                    "); the launcher may not end the job"));
        });
      });
}

void PmixClientHost::Finalized(int rank) {
  if (rank == rank_) Shutdown();
}

void PmixClientHost::Shutdown() {
  if (!initialized_) return;
  if (abort_thread_.joinable()) abort_thread_.join();
  if (loss_handler_registered_) {
    PMIx_Deregister_event_handler(loss_handler_id_, nullptr, nullptr);
    loss_handler_registered_ = false;
  }
  {
    absl::MutexLock lock(&g_loss_mutex);
    GetLossTarget() = LossTarget{};
  }
  PMIx_Finalize(nullptr, 0);
  initialized_ = false;
  // The progress thread is gone: nothing will answer what is left.
  registry_->Clear();
}

PmixClientHost::Request* PmixClientHost::NewRequest(std::string what, Reply reply) {
  auto request = std::make_unique<Request>();
  request->loop = &loop_;
  request->host = self_;
  request->registry = registry_.get();
  request->id = next_id_++;
  request->what = std::move(what);
  PMIX_PROC_CONSTRUCT(&request->proc);
  pending_.emplace(request->id, std::move(reply));
  return registry_->Add(std::move(request));
}

void PmixClientHost::FailRequest(Request* request, pmix_status_t rc) {
  std::unique_ptr<Request> owned = registry_->Take(request);
  Complete(owned->id, pmix::FromPmix(rc, owned->what));
}

void PmixClientHost::GetFrom(int rank, const std::string& pmix_key, Reply reply) {
  Request* request =
      NewRequest(absl::StrCat("PMIx get of ", pmix_key, " from rank ", rank), std::move(reply));
  PMIX_LOAD_PROCID(&request->proc, me_.nspace, rank);
  request->key = pmix_key;
  // PMIX_IMMEDIATE: answer from what the server holds now. Without it a get
  // of a key the rank never put waits for the put (or a timeout).
  PMIX_INFO_CREATE(request->info, 1);
  request->ninfo = 1;
  PMIX_INFO_LOAD(&request->info[0], PMIX_IMMEDIATE, nullptr, PMIX_BOOL);
  pmix_status_t rc = PMIx_Get_nb(&request->proc, request->key.c_str(), request->info,
                                 request->ninfo, &OnValue, request);
  if (rc != PMIX_SUCCESS) FailRequest(request, rc);
}

void PmixClientHost::GetFromEach(const std::vector<int>& ranks, const std::string& pmix_key,
                                 std::function<void(Replies)> done) {
  struct Gather {
    Replies replies;
    size_t remaining;
    std::function<void(Replies)> done;
  };
  if (ranks.empty()) {
    done({});
    return;
  }
  auto gather = std::make_shared<Gather>(
      Gather{Replies(ranks.size(), absl::UnknownError("no reply")), ranks.size(), std::move(done)});
  for (size_t i = 0; i < ranks.size(); ++i) {
    GetFrom(ranks[i], pmix_key, [gather, i](absl::StatusOr<std::string> reply) {
      gather->replies[i] = std::move(reply);
      if (--gather->remaining == 0) gather->done(std::move(gather->replies));
    });
  }
}

void PmixClientHost::Complete(uint64_t id, absl::StatusOr<std::string> result) {
  auto node = pending_.extract(id);
  if (node.empty()) return;  // already failed by the upstream loss
  if (!result.ok() && absl::IsUnavailable(result.status())) ReportLost(result.status().message());
  node.mapped()(std::move(result));
}

void PmixClientHost::ReportLost(absl::string_view reason) {
  if (lost_reason_.has_value()) return;
  lost_reason_ = absl::StrCat("lost the connection to the PMIx server (", reason,
                              "); the launcher has probably ended the job");
  loop_.Post([self = std::weak_ptr(self_), reason = *lost_reason_] {
    if (auto host = self.lock()) (*host)->HandleLost(reason);
  });
}

void PmixClientHost::HandleLost(const std::string& reason) {
  barrier_active_ = false;
  auto pending = std::move(pending_);
  pending_.clear();
  for (auto& [id, reply] : pending) reply(absl::UnavailableError(reason));
  auto waits = std::move(node_attr_waits_);
  node_attr_waits_.clear();
  for (auto& [id, wait] : waits) {
    if (wait.timer != 0) loop_.CancelTimer(wait.timer);
    wait.done(absl::UnavailableError(reason));
  }
  if (options_.on_upstream_lost) options_.on_upstream_lost(reason);
}

// --- libpmix callbacks (progress thread): copy the result, hand it over. ---

void PmixClientHost::Deliver(Request& request, absl::StatusOr<std::string> result) {
  request.loop->Post([host = request.host, id = request.id, result = std::move(result)]() mutable {
    if (auto self = host.lock()) (*self)->Complete(id, std::move(result));
  });
}

void PmixClientHost::OnOpDone(pmix_status_t status, void* cbdata) {
  auto* raw = static_cast<Request*>(cbdata);
  std::unique_ptr<Request> request = raw->registry->Take(raw);
  if (request == nullptr) return;
  absl::Status result = pmix::FromPmix(status, request->what);
  Deliver(*request, result.ok() ? absl::StatusOr<std::string>(std::string()) : result);
}

void PmixClientHost::OnValue(pmix_status_t status, pmix_value_t* value, void* cbdata) {
  auto* raw = static_cast<Request*>(cbdata);
  std::unique_ptr<Request> request = raw->registry->Take(raw);
  if (request == nullptr) return;
  absl::StatusOr<std::string> result =
      absl::NotFoundError(absl::StrCat(request->what, ": no value"));
  if (status != PMIX_SUCCESS) {
    result = pmix::FromPmix(status, request->what);
  } else if (value != nullptr) {
    result = pmix::ValueToString(*value);
  }
  // The value is ours: libpmix 4.2.2 never frees what it hands to a
  // PMIx_Get_nb callback (LeakSanitizer shows one value lost per get).
  if (value != nullptr) PMIX_VALUE_RELEASE(value);
  Deliver(*request, std::move(result));
}

void PmixClientHost::OnLossEvent(size_t handler_id, pmix_status_t status, const pmix_proc_t* source,
                                 pmix_info_t info[], size_t ninfo, pmix_info_t results[],
                                 size_t nresults, pmix_event_notification_cbfunc_fn_t cbfunc,
                                 void* cbdata) {
  {
    absl::MutexLock lock(&g_loss_mutex);
    const LossTarget& target = GetLossTarget();
    if (target.loop != nullptr) {
      target.loop->Post([host = target.host, status] {
        if (auto self = host.lock()) {
          (*self)->ReportLost(absl::StrCat("PMIx event ", PMIx_Error_string(status)));
        }
      });
    }
  }
  // Handled: no other handler (nor libpmix's default) needs to act on it.
  if (cbfunc != nullptr) cbfunc(PMIX_EVENT_ACTION_COMPLETE, nullptr, 0, nullptr, nullptr, cbdata);
}

}  // namespace pmi_shim::upstream
