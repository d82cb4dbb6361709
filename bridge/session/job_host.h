// JobHost: what a client-facing PMI session needs from the job it belongs to.
//
// A ServerSession (server_session.h) speaks PMI-1/PMI-2 to one client; every
// operation that involves the rest of the job goes through this interface.
// Implementations are the "upstream" side of the bridge: the embedded
// in-memory KVS of `pmi-bridge launch` (bridge/upstream/embedded_host.h),
// a PMI-1/PMI-2 client of the real launcher's server (pmi_wire_host.h) and a
// PMIx client of it (pmix_client_host.h); decorators derive from
// ForwardingHost. PmixServer (bridge/downstream) serves PMIx clients from
// any of them.
//
// Threading: everything runs on the event loop's single thread. Every
// operation that talks to the job finishes by calling `done`, which may run
// before the call returns (the embedded host) or later (a host that must ask
// a real server upstream, or a barrier that waits for other ranks).
#ifndef PMI_SHIM_BRIDGE_SESSION_JOB_HOST_H_
#define PMI_SHIM_BRIDGE_SESSION_JOB_HOST_H_

#include <functional>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace pmi_shim::session {

// Sizes advertised to PMI-1 clients by get_maxes. They include the
// terminating NUL (RFC 13), so a key may hold keylen_max - 1 characters; the
// server accepts one more byte than that to tolerate off-by-one clients.
// vallen_max stays 1024: larger values crash MPICH and MVAPICH2 clients.
struct PmiLimits {
  int kvsname_max = 256;
  int keylen_max = 64;
  int vallen_max = 1024;
};

// Job-wide facts a client asks for.
struct JobInfo {
  std::string kvsname;  // also the PMI-2 jobid
  int size = 1;
  int universe_size = 1;
  int appnum = 0;
  // PMI_process_mapping; absent when the host cannot describe the layout
  // (MPICH then falls back to a hostname exchange, an empty value is fatal).
  std::optional<std::string> process_mapping;
  PmiLimits limits;
};

class JobHost {
 public:
  using GetDone = std::function<void(absl::StatusOr<std::string>)>;
  using Done = std::function<void(absl::Status)>;

  virtual ~JobHost() = default;

  virtual const JobInfo& info() const = 0;

  // A session learned that its client is `rank` (from PMI_FD, initack or
  // fullinit). FailedPrecondition if another live client already is that
  // rank; OutOfRange if rank is not in [0, size).
  virtual absl::Status ClaimRank(int rank) = 0;

  // The client that claimed `rank` hung up having only looked (init and
  // queries, as `pmi-shim-client check` does on a container's rank socket):
  // the rank is free to be claimed again by the application.
  virtual void ReleaseRank(int rank) = 0;

  // Stores key=value for the job. Limits are checked by the session.
  virtual void Put(int rank, std::string key, std::string value, Done done) = 0;

  // Looks a key up. NotFound when it does not exist (after the host has
  // waited as long as its fence semantics require).
  virtual void Get(int rank, std::string key, GetDone done) = 0;

  // Enters the job-wide barrier (PMI-1 barrier_in, PMI-2 kvs-fence); `done`
  // runs once every rank has entered, or with an error if the job fails first.
  virtual void Barrier(int rank, Done done) = 0;

  // Node-scope attributes (PMI-2 info-putnodeattr / info-getnodeattr). With
  // `wait`, Get holds its answer until some rank puts the key.
  virtual void PutNodeAttr(int rank, std::string key, std::string value, Done done) = 0;
  virtual void GetNodeAttr(int rank, std::string key, bool wait, GetDone done) = 0;

  // The client asked to abort the whole job.
  virtual void Abort(int rank, int exit_code, std::string message) = 0;

  // The client finalized: its connection may now close without harm.
  virtual void Finalized(int rank) = 0;

  // The client's connection is gone (or unusable) before it finalized.
  // `reason` is one line naming the problem.
  virtual void Lost(int rank, std::string reason) = 0;

  // Whether everything sent to the job has gone out and been answered (a
  // finalize acknowledged, an abort written), so the process may exit now
  // without the job losing anything. Hosts that work in memory or
  // synchronously are always idle.
  virtual bool Idle() const { return true; }
};

}  // namespace pmi_shim::session

#endif  // PMI_SHIM_BRIDGE_SESSION_JOB_HOST_H_
