#include "bridge/upstream/pmix_client_host.h"

#include <unistd.h>

#include <algorithm>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "bridge/pmix/info_list.h"
#include "bridge/pmix/pending_calls.h"
#include "bridge/pmix/process_role.h"
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
// and the second caller would share (and later finalize) the first's. Its
// event handlers get no user pointer, so the loss handler finds the host
// through the role too. Never destroyed: used at exit.
pmix::ProcessRole<PmixClientHost>& ClientRole() {
  static auto* role = new pmix::ProcessRole<PmixClientHost>(
      "this process already has a PMIx connection; only one PmixClientHost may exist");
  return *role;
}

struct ValueDeleter {
  void operator()(pmix_value_t* value) const { PMIX_VALUE_RELEASE(value); }
};
using ValuePtr = std::unique_ptr<pmix_value_t, ValueDeleter>;

// A blocking PMIx_Get that only looks at what this process already holds.
// Job facts arrive with PMIx_Init, so PMIX_OPTIONAL never costs a round trip
// and a missing fact is NotFound instead of a wait for a put that never comes.
absl::StatusOr<ValuePtr> GetLocal(const pmix_proc_t& proc, const char* key) {
  pmix::InfoList optional;
  optional.AddBool(PMIX_OPTIONAL, true);
  pmix_value_t* value = nullptr;
  pmix_status_t rc = PMIx_Get(&proc, key, optional.data(), optional.size(), &value);
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

// PmixClientPort over libpmix. Calls in flight live in `calls_` (libpmix
// keeps pointers to a PMIx_Get_nb's proc, key and info array until it calls
// back, pmix_client_get.c), whose replies run on the loop.
class PmixClientHost::LibpmixPort final : public PmixClientPort {
 public:
  LibpmixPort(EventLoop& loop, const pmix_proc_t& me) : me_(me), calls_(loop) {}

  absl::Status Put(Scope scope, const std::string& pmix_key, absl::string_view value,
                   Kind kind) override {
    std::string bytes(value);  // NUL-terminated for PMIX_STRING; PMIx_Put copies
    pmix_value_t pmix_value;
    PMIX_VALUE_CONSTRUCT(&pmix_value);
    if (kind == Kind::kString) {
      pmix_value.type = PMIX_STRING;
      pmix_value.data.string = bytes.data();
    } else {
      pmix_value.type = PMIX_BYTE_OBJECT;
      pmix_value.data.bo.bytes = bytes.data();
      pmix_value.data.bo.size = bytes.size();
    }
    return pmix::FromPmix(
        PMIx_Put(scope == Scope::kJob ? PMIX_GLOBAL : PMIX_LOCAL, pmix_key.c_str(), &pmix_value),
        absl::StrCat("PMIx put of ", pmix_key));
  }

  absl::Status Commit() override { return pmix::FromPmix(PMIx_Commit(), "PMIx commit"); }

  void Fence(const std::string& what, Done done) override {
    pmix::PendingCalls::Call* call = calls_.Start(
        what,
        [done = std::move(done)](absl::StatusOr<std::string> result) { done(result.status()); });
    call->info.AddBool(PMIX_COLLECT_DATA, true);
    const pmix_status_t rc = PMIx_Fence_nb(nullptr, 0, call->info.data(), call->info.size(),
                                           &pmix::PendingCalls::OnOpDone, call);
    if (rc != PMIX_SUCCESS) calls_.Refused(call, rc);
  }

  void Get(int rank, const std::string& pmix_key, ValueDone done) override {
    pmix::PendingCalls::Call* call =
        calls_.Start(absl::StrCat("PMIx get of ", pmix_key, " from rank ", rank), std::move(done));
    PMIX_LOAD_PROCID(&call->proc, me_.nspace, rank);
    call->key = pmix_key;
    // PMIX_IMMEDIATE: answer from what the server holds now. Without it a get
    // of a key the rank never put waits for the put (or a timeout).
    call->info.AddBool(PMIX_IMMEDIATE, true);
    const pmix_status_t rc = PMIx_Get_nb(&call->proc, call->key.c_str(), call->info.data(),
                                         call->info.size(), &pmix::PendingCalls::OnValue, call);
    if (rc != PMIX_SUCCESS) calls_.Refused(call, rc);
  }

  // Once libpmix's thread is gone: nothing will answer what is left.
  void ForgetUnanswered() { calls_.ForgetUnanswered(); }

 private:
  const pmix_proc_t me_;
  pmix::PendingCalls calls_;
};

absl::StatusOr<std::unique_ptr<PmixClientHost>> PmixClientHost::Connect(EventLoop& loop,
                                                                        Options options) {
  RETURN_IF_ERROR(CheckPmixEnvironment());
  RETURN_IF_ERROR(ClientRole().Acquire());
  pmix_proc_t me;
  PMIX_PROC_CONSTRUCT(&me);
  pmix_status_t rc = PMIx_Init(&me, nullptr, 0);
  if (rc != PMIX_SUCCESS) {
    ClientRole().Release();
    return absl::UnavailableError(absl::StrCat(
        "cannot connect to the PMIx server of namespace ", getenv("PMIX_NAMESPACE"),
        " (PMIx_Init: ", PMIx_Error_string(rc),
        "); the launcher may be gone, or this process cannot reach its loopback address"));
  }
  std::unique_ptr<PmixClientHost> host(new PmixClientHost(loop, std::move(options), me));
  RETURN_IF_ERROR(host->LoadJobInfo());
  PmiOverPmix::Options pmi;
  pmi.rank = host->rank_;
  pmi.size = host->info_.size;
  pmi.local_peers = host->local_peers_;
  pmi.process_mapping = host->info_.process_mapping;
  pmi.node_attr_poll = host->options_.node_attr_poll;
  pmi.on_lost = host->options_.on_upstream_lost;
  host->pmi_ = std::make_unique<PmiOverPmix>(loop, *host->port_, std::move(pmi));
  RETURN_IF_ERROR(host->RegisterLossHandler());
  return host;
}

PmixClientHost::PmixClientHost(EventLoop& loop, Options options, const pmix_proc_t& me)
    : loop_(loop),
      options_(std::move(options)),
      me_(me),
      rank_(static_cast<int>(me.rank)),
      handoff_(loop, *this),
      port_(std::make_unique<LibpmixPort>(loop, me)),
      initialized_(true) {}

PmixClientHost::~PmixClientHost() {
  handoff_.Close();  // tasks already posted to the loop become no-ops
  pmi_.reset();
  Shutdown();
  port_.reset();
  ClientRole().Release();
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
  ClientRole().Attach(handoff_.handle());
  pmix_status_t codes[] = {PMIX_ERR_LOST_CONNECTION, PMIX_ERR_UNREACH};
  pmix::InfoList name;
  name.AddString(PMIX_EVENT_HDLR_NAME, "pmi-shim upstream loss");
  // With no registration callback the call blocks and returns the
  // handler's id, or a negative error.
  pmix_status_t id = PMIx_Register_event_handler(codes, 2, name.data(), name.size(), &OnLossEvent,
                                                 nullptr, nullptr);
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

absl::Status PmixClientHost::CheckRank(int rank) const {
  if (rank != rank_) {
    return absl::InvalidArgumentError(
        absl::StrCat("rank ", rank, " is not served here (this bridge is rank ", rank_, ")"));
  }
  return absl::OkStatus();
}

void PmixClientHost::Put(int rank, std::string key, std::string value, Done done) {
  if (absl::Status status = CheckRank(rank); !status.ok()) return done(status);
  pmi_->Put(std::move(key), std::move(value), std::move(done));
}

void PmixClientHost::Get(int rank, std::string key, GetDone done) {
  if (absl::Status status = CheckRank(rank); !status.ok()) return done(status);
  pmi_->Get(std::move(key), std::move(done));
}

void PmixClientHost::Barrier(int rank, Done done) {
  if (absl::Status status = CheckRank(rank); !status.ok()) return done(status);
  pmi_->Barrier(std::move(done));
}

void PmixClientHost::PutNodeAttr(int rank, std::string key, std::string value, Done done) {
  if (absl::Status status = CheckRank(rank); !status.ok()) return done(status);
  pmi_->PutNodeAttr(std::move(key), std::move(value), std::move(done));
}

void PmixClientHost::GetNodeAttr(int rank, std::string key, bool wait, GetDone done) {
  if (absl::Status status = CheckRank(rank); !status.ok()) return done(status);
  pmi_->GetNodeAttr(std::move(key), wait, std::move(done));
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
  if (aborting_ || !initialized_ || pmi_->lost()) return;
  aborting_ = true;
  abort_thread_ =
      std::thread([handoff = handoff_.handle(), exit_code, message = std::move(message)] {
        pmix_status_t rc = PMIx_Abort(exit_code, message.c_str(), nullptr, 0);
        if (rc == PMIX_SUCCESS) return;
        handoff.Post([rc](PmixClientHost&) {
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
  ClientRole().Detach();
  PMIx_Finalize(nullptr, 0);
  initialized_ = false;
  if (pmi_ != nullptr) pmi_->MarkFinalized();
  port_->ForgetUnanswered();  // the progress thread is gone
}

// --- libpmix's progress thread ---

void PmixClientHost::OnLossEvent(size_t handler_id, pmix_status_t status, const pmix_proc_t* source,
                                 pmix_info_t info[], size_t ninfo, pmix_info_t results[],
                                 size_t nresults, pmix_event_notification_cbfunc_fn_t cbfunc,
                                 void* cbdata) {
  ClientRole().Post([status](PmixClientHost& host) {
    if (host.pmi_ != nullptr) {
      host.pmi_->ReportLost(absl::StrCat("PMIx event ", PMIx_Error_string(status)));
    }
  });
  // Handled: no other handler (nor libpmix's default) needs to act on it.
  if (cbfunc != nullptr) cbfunc(PMIX_EVENT_ACTION_COMPLETE, nullptr, 0, nullptr, nullptr, cbdata);
}

}  // namespace pmi_shim::upstream
