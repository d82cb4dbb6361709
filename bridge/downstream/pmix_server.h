// PmixServer: serves PMIx clients (Open MPI apps, libpmix programs) of one
// job from the libpmix server API, with any session::JobHost behind it.
//
// This is the "PMIx client" column of the translation matrix for the rows
// whose host is not PMIx: the embedded KVS of `pmi-bridge launch` and a
// PMI-1/PMI-2 launcher under `pmi-bridge exec` (design.md §3, flow 4).
// libpmix does the PMIx wire, security handshake and data store; this class
// registers the job, hands out each rank's environment and passes libpmix's
// upcalls to a PmixHostAdapter (pmix_host_adapter.h), which maps them onto
// the JobHost without libpmix:
//   client_connected     -> JobHost::ClaimRank
//   client_finalized     -> JobHost::Finalized
//   (a client that exits without PMIx_Finalize -> JobHost::Lost, through
//    RankExited: libpmix 4.2.2 does not tell the host about lost clients)
//   abort                -> JobHost::Abort (exit code and message)
//   fence_nb             -> Put this server's blob, Barrier, Get every other
//                           server's blob (ModexExchange, modex_codec.h)
//   direct_modex         -> Get the rank's published direct-modex blob
//   publish/lookup/unpublish/spawn/connect/disconnect -> not supported
//
//   EventLoop loop;
//   upstream::EmbeddedHost host(info, events);
//   ASSIGN_OR_RETURN(std::unique_ptr<PmixServer> server,
//                    PmixServer::Start(loop, host, PmixServer::Options{}));
//   ASSIGN_OR_RETURN(std::vector<std::string> env, server->ClientEnvironment(rank));
//   // fork/exec the rank with its inherited environment plus `env`
//   loop.Run();
//   server->Stop();
//
// One per process: libpmix keeps its server state in globals, so Start fails
// with FailedPrecondition while another PmixServer runs, and after a failed
// job (see Stop). Start also setenv()s PMIX_MCA_gds=hash and
// PMIX_MCA_psec=native in this process for libpmix to read: call it before
// the process starts other threads.
//
// Threading. Start, ClientEnvironment, RankExited, Stop and the queries run
// on the loop's thread (or before the loop runs); the loop and the JobHost
// must outlive the server. libpmix calls the upcalls on its own progress
// thread; each copies what it needs (libpmix owns and may free its arguments
// once the upcall returns) and hands the work to the loop through
// pmix::ProcessRole / pmix::LoopHandoff (bridge/pmix), which drop it once
// the server stopped, so the JobHost is only ever touched on the loop's
// thread.
// libpmix's completion callbacks (op/modex cbfuncs) are then called from the
// loop's thread: libpmix thread-shifts every host callback into its progress
// thread itself (pmix_server.c, pmix_server_get.c dmdx_cbfunc: "because the
// host RM is calling us from their own thread, we need to thread-shift"), and
// data handed to a modex cbfunc stays valid until libpmix calls its release
// function. No blocking PMIx call is ever made from an upcall (the blocking
// register calls of Start wait on the loop's thread for libpmix's thread).
//
// Fences. libpmix 4.2.2 completes a fence whose participants are all its own
// clients by itself and never calls fence_nb nor direct_modex (seen with 4
// local libpmix probes and 4 local Open MPI 4.1 ranks): the JobHost's
// barrier is then not involved and all data moves inside libpmix. When some
// ranks are served elsewhere (`exec`: one rank per bridge) every fence
// reaches fence_nb and goes through the host's KVS and barrier; Open MPI 4.1
// makes three (the collecting modex fence and a non-collecting barrier in
// MPI_Init, one more in MPI_Finalize).
//
// Layout. By default a PMIx "node" is the set of ranks one PmixServer
// serves (pmix_layout.h); Options::node_of_rank and node_names give the
// launcher's real layout instead, which is what `pmi-bridge exec`'s node
// server (bridge/node) passes: one server per machine serving all of its
// ranks, so they are each other's local peers. PMIX_ANL_MAP is written from
// the layout; with the launcher's it equals the host's PMI_process_mapping.
//
// Open MPI 4.1 without Slurm: see ClientEnvironment.
//
// Dropped clients: see RankExited.
#ifndef PMI_SHIM_BRIDGE_DOWNSTREAM_PMIX_SERVER_H_
#define PMI_SHIM_BRIDGE_DOWNSTREAM_PMIX_SERVER_H_

#include <sys/types.h>

#include <cstddef>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "bridge/session/job_host.h"
#include "common/event_loop.h"

namespace pmi_shim::downstream {

class PmixServer {
 public:
  struct Options {
    // Ranks whose clients this process serves: empty means every rank
    // (launch); `exec` passes its one rank.
    std::vector<int> local_ranks;
    // PMIx namespace; empty: the host's kvsname, sanitized (SanitizeNspace).
    std::string nspace;
    // Identity the clients must present (PMIx native security compares the
    // uid/gid a client sends with these). Defaults: this process's.
    uid_t uid = static_cast<uid_t>(-1);
    gid_t gid = static_cast<gid_t>(-1);
    // Directory in which the server's private tmpdir is created (and removed
    // by Stop); empty: $TMPDIR, else /tmp.
    std::string tmpdir_parent;
    // Node index of every rank (size == job size), ranks of one index sharing
    // a node; must put exactly local_ranks on the local ranks' node. Empty:
    // local ranks on one node, every other rank alone (see Layout above).
    std::vector<int> node_of_rank;
    // Hostname of every node of that layout, nodes numbered 0..n-1 in order
    // of their lowest rank (PMIX_HOSTNAME, PMIX_NODE_MAP). Empty: this
    // machine's name when every rank is local, else "pmi-shim-nodeN" (only
    // for the per-server default layout; `exec` passes the launcher's).
    std::vector<std::string> node_names;
    // Longest KVS value used for modex segments; 0: derived from the host's
    // limits the way MPICH-3 caps values (vallen_max - kvsname length -
    // keylen_max - 30), so a PMI-1 `put` line stays under Slurm's 1024-byte
    // read.
    size_t max_value_bytes = 0;
    // How long a non-collecting fence waits for libpmix to hand over a local
    // rank's direct-modex data (a client that never committed has none).
    absl::Duration direct_modex_wait = absl::Seconds(2);
  };

  // Initialises libpmix as a server, registers the job and the local
  // clients. FailedPrecondition if a PmixServer already runs in this process;
  // InvalidArgument for bad options; Internal when libpmix refuses.
  static absl::StatusOr<std::unique_ptr<PmixServer>> Start(EventLoop& loop, session::JobHost& host,
                                                           Options options);

  ~PmixServer();  // Stop()s
  PmixServer(const PmixServer&) = delete;
  PmixServer& operator=(const PmixServer&) = delete;

  // "NAME=value" entries to add to local rank `rank`'s environment (they
  // must win over inherited ones):
  //  - what PMIx_server_setup_fork sets: PMIX_NAMESPACE, PMIX_RANK,
  //    PMIX_SERVER_URI2/21/3/4/41, PMIX_SECURITY_MODE, PMIX_GDS_MODULE,
  //    PMIX_SERVER_TMPDIR, PMIX_VERSION, PMIX_HOSTNAME, ...;
  //  - PMIX_MCA_gds=hash and PMIX_MCA_psec=native: no shared-memory data
  //    store across the container boundary (protocols.md §6 pitfall 20) and
  //    uid/gid-checked connections;
  //  - OMPI_MCA_schizo=ompi, which is what makes an unmodified Open MPI 4.1
  //    app join the job instead of starting as N singletons.
  //
  // Why OMPI_MCA_schizo=ompi. In Open MPI 4.x an app's orte_init() first
  // asks the "schizo" framework what launched it. Its components, highest
  // priority first: slurm (SLURM_JOBID + SLURM_NODELIST; DIRECT_LAUNCHED
  // only with SLURM_STEP_ID), flux (FLUX_JOB_ID), jsm (JSM_JSRUN_PORT), then
  // orte, which declares every process without an orted URI an
  // UNMANAGED_SINGLETON and overwrites OMPI_MCA_ess=singleton in the
  // environment (schizo_orte.c); ess/singleton then takes priority 100 and
  // PMIx is never used, whatever PMIX_* says. No component recognises "a
  // PMIx server started me" (ompi's has no check_launch_environment), so
  // the only launchers Open MPI 4.1 joins are mpirun, Slurm, Flux and JSM.
  // Restricting schizo to its ompi component (OMPI_MCA_<framework>=<list>
  // is Open MPI's documented component selection) leaves the launch
  // environment UNDETERMINED: ess/singleton declines, ess/pmi (priority 35)
  // initialises the ext3x PMIx client, which finds PMIX_NAMESPACE and
  // connects. Verified with Debian's 4.1.4 (4 ranks, launch and exec
  // shapes). Rejected alternatives: OMPI_MCA_ess=pmi alone (schizo/orte
  // overwrites it); OMPI_MCA_schizo=^orte (a leaked SLURM_JOBID +
  // SLURM_NODELIST without SLURM_STEP_ID then gives singletons again, seen);
  // faking SLURM_* or FLUX_JOB_ID (pretends to be another launcher and
  // drags in its binding and pmix-component choices); an orted URI
  // (OMPI_MCA_orte_local_daemon_uri: the app would dial a daemon). Open MPI
  // 5 moved launch detection out of the app into PRRTE, so there the
  // variable should be an unused parameter (not verified: Open MPI 5 is not
  // installable here); non-Open-MPI programs ignore all OMPI_MCA_*.
  //
  // The caller must still drop foreign PMI variables (PMI_FD, PMI_SIZE, ...)
  // from the inherited environment (pitfall 12). No transport setting is
  // added: ranks of one node are local peers (see Layout) and Open MPI's
  // defaults pick shared memory between them. OutOfRange if `rank` is not
  // served here; Internal if libpmix fails.
  absl::StatusOr<std::vector<std::string>> ClientEnvironment(int rank);

  // Detaches the upcalls (none reaches this object or the loop afterwards;
  // work they posted is dropped), removes the tmpdir and, after a clean job
  // (every client that connected also finalized), finalizes libpmix. After a
  // failed job libpmix is left running until the process exits, because
  // libpmix 4.2.2's PMIx_server_finalize may crash once clients died inside
  // a fence (see the .cc); no second PmixServer can start in this process
  // then. (Nor should one after a clean job: libpmix 4.2.2 aborts in its
  // listener thread when PMIx_server_init runs again after finalize, seen in
  // a unit test; no program does that.) Idempotent.
  void Stop();

  const std::string& nspace() const;
  const std::string& tmpdir() const;
  // Whether rank's client connected / called PMIx_Finalize (loop thread).
  bool Connected(int rank) const;
  bool Finalized(int rank) const;

  // The owner saw local rank `rank`'s process end (`how`: "exited with code
  // 3", "was killed by signal 9"). If its client connected and never
  // finalized, reports JobHost::Lost and returns true. libpmix itself does
  // not report a dropped client to the host: its other clients' fences just
  // end with PMIX_ERR_PARTIAL_SUCCESS. A finalized client cannot be seen as
  // lost: libpmix answers PMIx_Finalize only after the finalize upcall ran
  // on the loop, so the exit always comes later.
  bool RankExited(int rank, absl::string_view how);

  // How often libpmix called the host for a fence or direct modex (loop
  // thread; for diagnostics and tests).
  struct Stats {
    int fence_upcalls = 0;
    int direct_modex_upcalls = 0;
  };
  Stats stats() const;

  class Core;  // the libpmix glue, in the .cc

 private:
  explicit PmixServer(std::shared_ptr<Core> core);
  std::shared_ptr<Core> core_;
};

}  // namespace pmi_shim::downstream

#endif  // PMI_SHIM_BRIDGE_DOWNSTREAM_PMIX_SERVER_H_
