// RankDirectory: the per-rank directory `pmi-bridge exec` publishes for a
// container its command may start (see common/rendezvous.h for the
// contract): a rank socket, a socket relayed to the PMIx server, a request
// socket and an env file, in a fresh directory owned by the job's user,
// removed on exit.
//
// Directories are named JOB.RANK.PID under a root; a bridge that was killed
// with SIGKILL leaves one behind, and the next bridge under the same root
// removes those whose PID is gone.
#ifndef PMI_SHIM_BRIDGE_EXEC_RANK_DIRECTORY_H_
#define PMI_SHIM_BRIDGE_EXEC_RANK_DIRECTORY_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "common/rendezvous.h"

namespace pmi_shim::exec {

class RankDirectory {
 public:
  // Makes ROOT/JOB.RANK.PID (mode 0700; ROOT is created 0755 if missing).
  static absl::StatusOr<std::unique_ptr<RankDirectory>> Create(const std::string& root,
                                                               const std::string& job, int rank);
  ~RankDirectory();  // removes what it made
  RankDirectory(const RankDirectory&) = delete;
  RankDirectory& operator=(const RankDirectory&) = delete;

  const std::string& path() const { return path_; }
  std::string SocketPath() const;      // PMI-1/PMI-2 rank socket
  std::string PmixSocketPath() const;  // relayed to the PMIx server

  // Writes the env file atomically (a reader never sees half of it).
  absl::Status WriteEnv(const rendezvous::EnvEntries& entries);

 private:
  explicit RankDirectory(std::string path) : path_(std::move(path)) {}
  std::string path_;
};

// $PMI_SHIM_RUNDIR if set, else /run/pmi-shim for root, /tmp/pmi-shim-UID
// for others (both under the hook's default allowed directories).
std::string DefaultPublishRoot();

// What the client side compares with its own view to tell a container that
// cannot share memory or files with the host (PMI_SHIM_HOST_* entries).
rendezvous::EnvEntries HostSharingFacts();

// A job name safe to use in a short path component.
std::string PathSafeJobName(const std::string& job);

}  // namespace pmi_shim::exec

#endif  // PMI_SHIM_BRIDGE_EXEC_RANK_DIRECTORY_H_
