#include "bridge/downstream/pmix_server.h"

#include <ftw.h>
#include <pmix.h>
#include <pmix_server.h>
#include <stdlib.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "bridge/downstream/modex_codec.h"
#include "bridge/downstream/pmix_host_adapter.h"
#include "bridge/downstream/pmix_layout.h"
#include "bridge/pmix/info_list.h"
#include "bridge/pmix/loop_handoff.h"
#include "bridge/pmix/pending_calls.h"
#include "bridge/pmix/process_role.h"
#include "bridge/pmix/status.h"
#include "common/log.h"
#include "common/status_macros.h"

namespace pmi_shim::downstream {

// ---------------------------------------------------------------------------
// PmixServer: the libpmix glue.

namespace {

static_assert(kPmixWildcardRank == PMIX_RANK_WILDCARD, "pmix_host_adapter.h");
static_assert(kMaxNspaceLength == PMIX_MAX_NSLEN, "pmix_layout.h");

// libpmix keeps one server per process in its globals; so do we. Upcalls
// reach the running server's Core through the role, so that once Stop()
// detached it no upcall can touch the Core or its loop (even when libpmix's
// thread outlives Stop, see Core::Stop). Never destroyed: libpmix's thread
// may still call in at exit.
pmix::ProcessRole<PmixServer::Core>& ServerRole() {
  static auto* role = new pmix::ProcessRole<PmixServer::Core>(
      "a PMIx server already runs in this process (libpmix allows one per process)");
  return *role;
}

absl::Status PmixError(absl::string_view what, pmix_status_t rc) {
  return pmix::FromPmix(rc, absl::StrCat(what, " failed"));
}

void ReleaseString(void* cbdata) { delete static_cast<std::string*>(cbdata); }

// Hands `blob` to a libpmix modex cbfunc; libpmix releases it when done.
void ReplyBlob(pmix_modex_cbfunc_t cbfunc, void* cbdata, absl::StatusOr<std::string> blob) {
  if (cbfunc == nullptr) return;
  if (!blob.ok()) {
    cbfunc(pmix::ToPmix(blob.status()), nullptr, 0, cbdata, nullptr, nullptr);
    return;
  }
  auto* data = new std::string(*std::move(blob));
  cbfunc(PMIX_SUCCESS, data->data(), data->size(), cbdata, ReleaseString, data);
}

int RemoveEntry(const char* path, const struct stat*, int, struct FTW*) { return ::remove(path); }

// Environment that makes an Open MPI 4.1 app use the PMIx server it was
// given; see ClientEnvironment in the header for why.
std::vector<std::string> OmpiDirectLaunchEnvironment() { return {"OMPI_MCA_schizo=ompi"}; }

std::string LocalHostname() {
  char name[256] = {};
  if (::gethostname(name, sizeof(name) - 1) != 0 || name[0] == '\0') return "localhost";
  return name;
}

}  // namespace

// The libpmix side of a PmixServer: setup and teardown, the upcalls'
// trampolines, and the LocalModexSource its PmixHostAdapter asks.
class PmixServer::Core : public LocalModexSource {
 public:
  Core(EventLoop& loop, session::JobHost& host, Options options,
       PmixHostAdapter::Options adapter_options)
      : host_(host),
        options_(std::move(options)),
        layout_(adapter_options.layout),
        nspace_(adapter_options.nspace),
        adapter_(loop, host, *this, std::move(adapter_options)),
        handoff_(loop, *this),
        calls_(loop) {}

  absl::Status Init();
  void Stop();
  absl::StatusOr<std::vector<std::string>> ClientEnvironment(int rank);

  const std::string& nspace() const { return nspace_; }
  const std::string& tmpdir() const { return tmpdir_; }
  PmixHostAdapter& adapter() { return adapter_; }

  // LocalModexSource: PMIx_server_dmodex_request.
  void RequestLocalModex(int rank, std::function<void(std::string)> done) override;

 private:
  const std::string& NodeName(int node) const { return node_names_[node]; }
  absl::Status MakeTmpdir();
  absl::Status RegisterJob();
  // The node and process maps in PMIx's regex form, which libpmix allocates.
  struct JobRegexes {
    std::unique_ptr<char, decltype(&::free)> nodes{nullptr, ::free};
    std::unique_ptr<char, decltype(&::free)> procs{nullptr, ::free};
  };
  absl::StatusOr<JobRegexes> GenerateRegexes() const;
  pmix::InfoList JobLevelInfo(const JobRegexes& regexes) const;
  pmix::InfoList ProcInfo(int rank) const;
  absl::Status RegisterLocalClients(const std::vector<int>& local);

  session::JobHost& host_;
  Options options_;
  Layout layout_;
  std::string nspace_;
  std::string tmpdir_;
  std::vector<std::string> node_names_;
  PmixHostAdapter adapter_;
  bool initialized_ = false;
  bool stopped_ = false;
  // How libpmix's thread reaches this Core (through ServerRole), and the
  // direct-modex requests it has not answered yet.
  pmix::LoopHandoff<Core> handoff_;
  pmix::PendingCalls calls_;
};

// ---- upcalls (libpmix's progress thread) ----------------------------------

namespace {

// Hands `task` to the running server's loop; PMIX_ERR_INIT when there is
// none any more (then libpmix answers the client itself).
pmix_status_t PostToCore(std::function<void(PmixServer::Core&)> task) {
  return ServerRole().Post(std::move(task)) ? PMIX_SUCCESS : PMIX_ERR_INIT;
}

PmixHostAdapter::Proc ProcOf(const pmix_proc_t& proc) {
  return {std::string(proc.nspace, strnlen(proc.nspace, PMIX_MAX_NSLEN)), proc.rank};
}

pmix_status_t UpClientConnected(const pmix_proc_t* proc, void*, pmix_op_cbfunc_t cbfunc,
                                void* cbdata) {
  return PostToCore([proc = ProcOf(*proc), cbfunc, cbdata](PmixServer::Core& c) {
    const absl::Status status = c.adapter().ClientConnected(proc);
    if (cbfunc != nullptr) cbfunc(pmix::ToPmix(status), cbdata);
  });
}

// Only a client's PMIx_Finalize calls this: libpmix 4.2.2 tells the host
// nothing when a client's connection drops (no upcall, no event; seen with a
// client that _exit()s after PMIx_Init), hence PmixServer::RankExited.
pmix_status_t UpClientFinalized(const pmix_proc_t* proc, void*, pmix_op_cbfunc_t cbfunc,
                                void* cbdata) {
  return PostToCore([proc = ProcOf(*proc), cbfunc, cbdata](PmixServer::Core& c) {
    c.adapter().ClientFinalized(proc);
    if (cbfunc != nullptr) cbfunc(PMIX_SUCCESS, cbdata);
  });
}

pmix_status_t UpAbort(const pmix_proc_t* proc, void*, int status, const char msg[], pmix_proc_t[],
                      size_t, pmix_op_cbfunc_t cbfunc, void* cbdata) {
  std::string message = msg != nullptr ? msg : "";
  return PostToCore([proc = ProcOf(*proc), status, message, cbfunc, cbdata](PmixServer::Core& c) {
    // Release the client first: the host may kill it at once.
    if (cbfunc != nullptr) cbfunc(PMIX_SUCCESS, cbdata);
    c.adapter().ClientAborted(proc, status, message);
  });
}

pmix_status_t UpFence(const pmix_proc_t procs[], size_t nprocs, const pmix_info_t info[],
                      size_t ninfo, char* data, size_t ndata, pmix_modex_cbfunc_t cbfunc,
                      void* cbdata) {
  std::vector<PmixHostAdapter::Proc> participants;
  for (size_t i = 0; i < nprocs; ++i) participants.push_back(ProcOf(procs[i]));
  bool collect = false;
  for (size_t i = 0; i < ninfo; ++i) {
    if (PMIX_CHECK_KEY(&info[i], PMIX_COLLECT_DATA)) collect = PMIX_INFO_TRUE(&info[i]);
  }
  std::string blob = data != nullptr ? std::string(data, ndata) : std::string();
  return PostToCore([participants = std::move(participants), collect, blob = std::move(blob),
                     cbfunc, cbdata](PmixServer::Core& c) mutable {
    c.adapter().Fence(participants, collect, std::move(blob),
                      [cbfunc, cbdata](absl::StatusOr<std::string> result) {
                        ReplyBlob(cbfunc, cbdata, std::move(result));
                      });
  });
}

pmix_status_t UpDirectModex(const pmix_proc_t* proc, const pmix_info_t[], size_t,
                            pmix_modex_cbfunc_t cbfunc, void* cbdata) {
  return PostToCore([proc = ProcOf(*proc), cbfunc, cbdata](PmixServer::Core& c) {
    c.adapter().DirectModex(proc, [cbfunc, cbdata](absl::StatusOr<std::string> blob) {
      ReplyBlob(cbfunc, cbdata, std::move(blob));
    });
  });
}

// Returning an error (instead of PMIX_SUCCESS) tells libpmix the cbfunc will
// not be called; it answers the client with that error.
pmix_status_t Unsupported(const char* what) {
  std::string message = absl::StrCat("a PMIx client called ", what,
                                     ", which pmi-shim's PMIx server does not support");
  (void)PostToCore([message](PmixServer::Core&) { log::Warning(message); });
  return PMIX_ERR_NOT_SUPPORTED;
}

pmix_status_t UpPublish(const pmix_proc_t*, const pmix_info_t[], size_t, pmix_op_cbfunc_t, void*) {
  return Unsupported("PMIx_Publish");
}
pmix_status_t UpLookup(const pmix_proc_t*, char**, const pmix_info_t[], size_t,
                       pmix_lookup_cbfunc_t, void*) {
  return Unsupported("PMIx_Lookup");
}
pmix_status_t UpUnpublish(const pmix_proc_t*, char**, const pmix_info_t[], size_t, pmix_op_cbfunc_t,
                          void*) {
  return Unsupported("PMIx_Unpublish");
}
pmix_status_t UpSpawn(const pmix_proc_t*, const pmix_info_t[], size_t, const pmix_app_t[], size_t,
                      pmix_spawn_cbfunc_t, void*) {
  return Unsupported("PMIx_Spawn (MPI_Comm_spawn)");
}
pmix_status_t UpConnect(const pmix_proc_t[], size_t, const pmix_info_t[], size_t, pmix_op_cbfunc_t,
                        void*) {
  return Unsupported("PMIx_Connect");
}
pmix_status_t UpDisconnect(const pmix_proc_t[], size_t, const pmix_info_t[], size_t,
                           pmix_op_cbfunc_t, void*) {
  return Unsupported("PMIx_Disconnect");
}

}  // namespace

// ---- loop-thread bodies ------------------------------------------------------

void PmixServer::Core::RequestLocalModex(int rank, std::function<void(std::string)> done) {
  // A rank without data, or a failed request, gives an empty blob.
  pmix::PendingCalls::Call* call =
      calls_.Start(absl::StrCat("PMIx direct modex of rank ", rank),
                   [done = std::move(done)](absl::StatusOr<std::string> blob) {
                     done(blob.ok() ? *std::move(blob) : std::string());
                   });
  PMIX_PROC_LOAD(&call->proc, nspace_.c_str(), static_cast<pmix_rank_t>(rank));
  const pmix_status_t rc =
      PMIx_server_dmodex_request(&call->proc, &pmix::PendingCalls::OnModexData, call);
  if (rc != PMIX_SUCCESS) calls_.Refused(call, rc);
}

// ---- setup and teardown --------------------------------------------------------

absl::Status PmixServer::Core::MakeTmpdir() {
  std::string parent = options_.tmpdir_parent;
  if (parent.empty()) {
    const char* env = ::getenv("TMPDIR");
    parent = env != nullptr && *env != '\0' ? env : "/tmp";
  }
  std::string pattern = absl::StrCat(parent, "/pmi-shim-pmix.XXXXXX");
  if (::mkdtemp(pattern.data()) == nullptr) {
    return absl::ErrnoToStatus(errno,
                               absl::StrCat("mkdtemp(", pattern, ") for the PMIx server's tmpdir"));
  }
  tmpdir_ = pattern;
  return absl::OkStatus();
}

absl::Status PmixServer::Core::Init() {
  const bool single_node = layout_.ranks_of_node.size() == 1;
  node_names_ = options_.node_names;
  for (size_t node = node_names_.size(); node < layout_.ranks_of_node.size(); ++node) {
    node_names_.push_back(single_node ? LocalHostname() : absl::StrCat("pmi-shim-node", node));
  }
  RETURN_IF_ERROR(MakeTmpdir());
  // Plain messaging for the data store (no shared-memory segments to share
  // across a container boundary) and uid/gid-checked connections.
  ::setenv("PMIX_MCA_gds", "hash", 1);
  ::setenv("PMIX_MCA_psec", "native", 1);

  static pmix_server_module_t module = [] {
    pmix_server_module_t m;
    std::memset(&m, 0, sizeof(m));
    m.client_connected = UpClientConnected;
    m.client_finalized = UpClientFinalized;
    m.abort = UpAbort;
    m.fence_nb = UpFence;
    m.direct_modex = UpDirectModex;
    m.publish = UpPublish;
    m.lookup = UpLookup;
    m.unpublish = UpUnpublish;
    m.spawn = UpSpawn;
    m.connect = UpConnect;
    m.disconnect = UpDisconnect;
    return m;
  }();
  pmix::InfoList info;
  info.AddString(PMIX_SERVER_TMPDIR, tmpdir_);
  info.AddString(PMIX_SYSTEM_TMPDIR, tmpdir_);
  info.AddString(PMIX_HOSTNAME, NodeName(layout_.local_node));
  info.AddBool(PMIX_SERVER_TOOL_SUPPORT, false);
  info.AddBool(PMIX_SERVER_SYSTEM_SUPPORT, false);
  ServerRole().Attach(handoff_.handle());
  const pmix_status_t rc = PMIx_server_init(&module, info.data(), info.size());
  if (rc != PMIX_SUCCESS) {
    ServerRole().Detach();
    return PmixError("PMIx_server_init", rc);
  }
  initialized_ = true;
  return RegisterJob();
}

absl::Status PmixServer::Core::RegisterJob() {
  const std::vector<int>& local = layout_.ranks_of_node[layout_.local_node];
  absl::StatusOr<JobRegexes> regexes = GenerateRegexes();
  if (!regexes.ok()) return regexes.status();
  pmix::InfoList info = JobLevelInfo(*regexes);
  for (int rank = 0; rank < host_.info().size; ++rank) {
    info.AddArray(PMIX_PROC_DATA, ProcInfo(rank));
  }
  const pmix_status_t rc = pmix::CallAndWait([&](pmix_op_cbfunc_t cbfunc, void* cbdata) {
    return PMIx_server_register_nspace(nspace_.c_str(), static_cast<int>(local.size()), info.data(),
                                       info.size(), cbfunc, cbdata);
  });
  if (rc != PMIX_SUCCESS)
    return PmixError(absl::StrCat("PMIx_server_register_nspace(", nspace_, ")"), rc);
  return RegisterLocalClients(local);
}

absl::StatusOr<PmixServer::Core::JobRegexes> PmixServer::Core::GenerateRegexes() const {
  std::vector<std::string> ppn;
  for (const std::vector<int>& ranks : layout_.ranks_of_node)
    ppn.push_back(absl::StrJoin(ranks, ","));
  JobRegexes regexes;
  char* node_regex = nullptr;
  char* proc_regex = nullptr;
  pmix_status_t rc = PMIx_generate_regex(absl::StrJoin(node_names_, ",").c_str(), &node_regex);
  if (rc != PMIX_SUCCESS) return PmixError("PMIx_generate_regex", rc);
  regexes.nodes.reset(node_regex);
  rc = PMIx_generate_ppn(absl::StrJoin(ppn, ";").c_str(), &proc_regex);
  if (rc != PMIX_SUCCESS) return PmixError("PMIx_generate_ppn", rc);
  regexes.procs.reset(proc_regex);
  return regexes;
}

pmix::InfoList PmixServer::Core::JobLevelInfo(const JobRegexes& regexes) const {
  const session::JobInfo& job = host_.info();
  const std::vector<int>& local = layout_.ranks_of_node[layout_.local_node];
  pmix::InfoList info;
  info.AddUint32(PMIX_UNIV_SIZE, static_cast<uint32_t>(std::max(job.universe_size, job.size)));
  info.AddUint32(PMIX_JOB_SIZE, static_cast<uint32_t>(job.size));
  info.AddUint32(PMIX_MAX_PROCS, static_cast<uint32_t>(std::max(job.universe_size, job.size)));
  info.AddString(PMIX_JOBID, nspace_);
  info.AddUint32(PMIX_APP_SIZE, static_cast<uint32_t>(job.size));
  info.AddRank(PMIX_APPLDR, 0);
  info.AddUint32(PMIX_NUM_NODES, static_cast<uint32_t>(layout_.ranks_of_node.size()));
  info.Add(PMIX_NODE_MAP, regexes.nodes.get(), PMIX_REGEX);
  info.Add(PMIX_PROC_MAP, regexes.procs.get(), PMIX_REGEX);
  info.AddString(PMIX_ANL_MAP, AnlMap(layout_));
  info.AddUint32(PMIX_LOCAL_SIZE, static_cast<uint32_t>(local.size()));
  info.AddString(PMIX_LOCAL_PEERS, absl::StrJoin(local, ","));
  info.AddRank(PMIX_LOCALLDR, static_cast<pmix_rank_t>(local.front()));
  return info;
}

pmix::InfoList PmixServer::Core::ProcInfo(int rank) const {
  const int node = layout_.node_of_rank[rank];
  const std::vector<int>& peers = layout_.ranks_of_node[node];
  const auto local_rank =
      static_cast<uint16_t>(std::find(peers.begin(), peers.end(), rank) - peers.begin());
  pmix::InfoList proc;
  proc.AddRank(PMIX_RANK, static_cast<pmix_rank_t>(rank));
  proc.AddUint16(PMIX_LOCAL_RANK, local_rank);
  proc.AddUint16(PMIX_NODE_RANK, local_rank);
  proc.AddUint32(PMIX_APPNUM, static_cast<uint32_t>(host_.info().appnum));
  proc.AddRank(PMIX_APP_RANK, static_cast<pmix_rank_t>(rank));
  proc.AddRank(PMIX_GLOBAL_RANK, static_cast<pmix_rank_t>(rank));
  proc.AddUint32(PMIX_NODEID, static_cast<uint32_t>(node));
  proc.AddString(PMIX_HOSTNAME, NodeName(node));
  return proc;
}

absl::Status PmixServer::Core::RegisterLocalClients(const std::vector<int>& local) {
  for (int rank : local) {
    pmix_proc_t proc;
    PMIX_PROC_LOAD(&proc, nspace_.c_str(), static_cast<pmix_rank_t>(rank));
    const pmix_status_t rc = pmix::CallAndWait([&](pmix_op_cbfunc_t cbfunc, void* cbdata) {
      return PMIx_server_register_client(&proc, options_.uid, options_.gid, nullptr, cbfunc,
                                         cbdata);
    });
    if (rc != PMIX_SUCCESS)
      return PmixError(absl::StrCat("PMIx_server_register_client(rank ", rank, ")"), rc);
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<std::string>> PmixServer::Core::ClientEnvironment(int rank) {
  if (!adapter_.IsLocal(rank)) {
    return absl::OutOfRangeError(absl::StrCat("rank ", rank, " is not served by this PMIx server"));
  }
  if (!initialized_ || stopped_)
    return absl::FailedPreconditionError("the PMIx server is not running");
  pmix_proc_t proc;
  PMIX_PROC_LOAD(&proc, nspace_.c_str(), static_cast<pmix_rank_t>(rank));
  char** env = nullptr;
  const pmix_status_t rc = PMIx_server_setup_fork(&proc, &env);
  std::vector<std::string> out;
  for (char** entry = env; entry != nullptr && *entry != nullptr; ++entry) {
    out.emplace_back(*entry);
    ::free(*entry);
  }
  ::free(env);
  if (rc != PMIX_SUCCESS)
    return PmixError(absl::StrCat("PMIx_server_setup_fork(rank ", rank, ")"), rc);
  out.emplace_back("PMIX_MCA_gds=hash");
  out.emplace_back("PMIX_MCA_psec=native");
  for (std::string& entry : OmpiDirectLaunchEnvironment()) out.push_back(std::move(entry));
  return out;
}

void PmixServer::Core::Stop() {
  if (stopped_) return;
  stopped_ = true;
  adapter_.Stop();
  // From here on upcalls find no server and touch nothing of ours.
  ServerRole().Detach();
  handoff_.Close();
  // libpmix 4.2.2 bug: when clients die while others wait in a local fence,
  // each lost connection decrements the fence's participant count and may
  // complete the same tracker again, and PMIx_server_finalize then walks a
  // freed tracker and crashes (about 1 run in 3 here when 4 ranks are killed
  // mid-fence). So libpmix is finalized only after a clean job, where every
  // client that connected also finalized. After a failed job its progress
  // thread idles until the process exits, which the owner does next; it
  // never reaches this Core again (the role is detached), but it also leaves no
  // room for a second PmixServer in this process.
  if (initialized_ && adapter_.Clean()) {
    const pmix_status_t rc = PMIx_server_finalize();
    if (rc != PMIX_SUCCESS)
      log::Warning(absl::StrCat("PMIx_server_finalize: ", PMIx_Error_string(rc)));
    initialized_ = false;
  } else if (initialized_) {
    log::Debug("not finalizing libpmix after a failed job (libpmix 4.2.2 may crash doing so)");
  }
  if (!tmpdir_.empty()) {
    if (::nftw(tmpdir_.c_str(), RemoveEntry, 16, FTW_DEPTH | FTW_PHYS) != 0 && errno != ENOENT) {
      log::Warning(
          absl::StrCat("could not remove the PMIx tmpdir ", tmpdir_, ": ", std::strerror(errno)));
    }
    tmpdir_.clear();
  }
  if (!initialized_) ServerRole().Release();
}

// ---- public face ------------------------------------------------------------

absl::StatusOr<std::unique_ptr<PmixServer>> PmixServer::Start(EventLoop& loop,
                                                              session::JobHost& host,
                                                              Options options) {
  const session::JobInfo& job = host.info();
  if (job.size < 1) return absl::InvalidArgumentError("the job has no ranks");
  if (options.local_ranks.empty()) {
    for (int rank = 0; rank < job.size; ++rank) options.local_ranks.push_back(rank);
  }
  std::sort(options.local_ranks.begin(), options.local_ranks.end());
  options.local_ranks.erase(std::unique(options.local_ranks.begin(), options.local_ranks.end()),
                            options.local_ranks.end());
  if (options.local_ranks.front() < 0 || options.local_ranks.back() >= job.size) {
    return absl::InvalidArgumentError(absl::StrCat("local ranks must lie in [0, ", job.size, ")"));
  }
  PmixHostAdapter::Options adapter;
  ASSIGN_OR_RETURN(adapter.layout, MakeLayout(job.size, options.local_ranks, options.node_of_rank));
  if (!options.node_names.empty() &&
      options.node_names.size() != adapter.layout.ranks_of_node.size()) {
    return absl::InvalidArgumentError(absl::StrCat(options.node_names.size(),
                                                   " node names for a layout of ",
                                                   adapter.layout.ranks_of_node.size(), " nodes"));
  }
  adapter.nspace = options.nspace.empty() ? SanitizeNspace(job.kvsname) : options.nspace;
  const std::string& nspace = adapter.nspace;
  if (nspace.size() > PMIX_MAX_NSLEN || SanitizeNspace(nspace) != nspace) {
    return absl::InvalidArgumentError(
        absl::StrCat("\"", nspace, "\" is not a usable PMIx namespace"));
  }
  if (options.uid == static_cast<uid_t>(-1)) options.uid = ::geteuid();
  if (options.gid == static_cast<gid_t>(-1)) options.gid = ::getegid();

  ModexExchange::Options& exchange = adapter.exchange;
  exchange.size = job.size;
  exchange.local_ranks = options.local_ranks;
  exchange.node_of_rank = adapter.layout.node_of_rank;
  exchange.limits.max_key_bytes = static_cast<size_t>(std::max(16, job.limits.keylen_max - 1));
  const int derived =
      job.limits.vallen_max - static_cast<int>(job.kvsname.size()) - job.limits.keylen_max - 30;
  exchange.limits.max_value_bytes =
      options.max_value_bytes != 0
          ? options.max_value_bytes
          : static_cast<size_t>(std::min(std::max(derived, 96), job.limits.vallen_max - 1));

  RETURN_IF_ERROR(ServerRole().Acquire());
  adapter.direct_modex_wait = options.direct_modex_wait;
  auto core = std::make_shared<Core>(loop, host, std::move(options), std::move(adapter));
  absl::Status started = core->Init();
  if (!started.ok()) {
    core->Stop();
    return started;
  }
  return std::unique_ptr<PmixServer>(new PmixServer(std::move(core)));
}

PmixServer::PmixServer(std::shared_ptr<Core> core) : core_(std::move(core)) {}
PmixServer::~PmixServer() { Stop(); }
void PmixServer::Stop() { core_->Stop(); }
absl::StatusOr<std::vector<std::string>> PmixServer::ClientEnvironment(int rank) {
  return core_->ClientEnvironment(rank);
}
const std::string& PmixServer::nspace() const { return core_->nspace(); }
const std::string& PmixServer::tmpdir() const { return core_->tmpdir(); }
bool PmixServer::Connected(int rank) const { return core_->adapter().Connected(rank); }
bool PmixServer::Finalized(int rank) const { return core_->adapter().Finalized(rank); }
PmixServer::Stats PmixServer::stats() const {
  const PmixHostAdapter::Stats& stats = core_->adapter().stats();
  return {stats.fence_upcalls, stats.direct_modex_upcalls};
}
bool PmixServer::RankExited(int rank, absl::string_view how) {
  return core_->adapter().RankExited(rank, how);
}

}  // namespace pmi_shim::downstream
