// The real container engines, driven the way real-peers.md says they work
// on this machine, each with ALL of its state in a test's scratch directory
// so that a test can run beside a user's own containers and leave nothing:
//
//   runc      `runc --root DIR run --bundle B ID` of a bundle (oci_bundle.h)
//   Podman    private --root/--runroot/--tmpdir, vfs, cgroupfs, runc,
//             --network none and the two ulimits on every `run`
//   Docker    a private dockerd (own containerd, socket, data and exec roots;
//             no iptables, no bridge, vfs) that the test starts and stops
//
// Every engine object lists what it owns for DescribeLeftovers (leftovers.h)
// and has a Cleanup() that removes its containers, images, daemons and
// mounts. Tests call Cleanup() in TearDown and then assert no leftovers.
#ifndef PMI_SHIM_TEST_CONTAINERS_ENGINES_H_
#define PMI_SHIM_TEST_CONTAINERS_ENGINES_H_

#include <sys/types.h>

#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "nlohmann/json.hpp"
#include "test/containers/leftovers.h"
#include "test/testing/subprocess.h"

namespace pmi_shim::containers {

inline constexpr char kRunc[] = "/usr/bin/runc";
inline constexpr char kPodman[] = "/usr/bin/podman";
// /usr/local/bin/docker is another CLI that shadows Debian's on PATH.
inline constexpr char kDocker[] = "/usr/bin/docker";
inline constexpr char kDockerd[] = "/usr/sbin/dockerd";

// OkStatus, or why `program` cannot be used here (missing, not root).
absl::Status EngineAvailability(const std::string& program);

// ---- runc ----

class Runc {
 public:
  // State goes to `root` (created).
  explicit Runc(std::string root) : root_(std::move(root)) {}
  const std::string& root() const { return root_; }

  // runc --root ROOT run --bundle BUNDLE [extra...] ID
  std::vector<std::string> RunArgv(const std::string& bundle, const std::string& id,
                                   const std::vector<std::string>& extra = {}) const;
  absl::StatusOr<testutil::RunResult> Run(const std::string& bundle, const std::string& id,
                                          absl::Duration timeout = absl::Seconds(30)) const;
  // `runc list -q` as a leftover listing command.
  std::vector<std::string> ListArgv() const;
  // delete -f of every container still known to this root.
  void Cleanup() const;

 private:
  std::string root_;
};

// ---- Podman ----

class Podman {
 public:
  // State under `state_dir` (root, runroot, tmpdir); hooks from `hooks_dir`
  // ("" = an empty dir of its own, so no system hook runs in tests).
  Podman(std::string state_dir, std::string hooks_dir = "");

  // podman + the global flags + `args`.
  std::vector<std::string> Command(const std::vector<std::string>& args) const;
  // podman ... run --rm --network none --ulimit nofile=1024:1024
  //   --ulimit nproc=1024:1024 RUN_FLAGS IMAGE COMMAND...
  std::vector<std::string> RunArgv(const std::vector<std::string>& run_flags,
                                   const std::string& image,
                                   const std::vector<std::string>& command) const;
  // podman import TAR NAME.
  absl::Status Import(const std::string& tar, const std::string& name) const;
  std::vector<std::string> ListArgv() const;  // ps -aq
  // rm -af, rmi -af, unmount what is left under the state dir.
  void Cleanup() const;
  const std::string& hooks_dir() const { return hooks_dir_; }

 private:
  std::string state_dir_;
  std::string hooks_dir_;
};

// ---- Docker ----

struct DockerOptions {
  std::string state_dir;  // short: containerd's sockets go under it
  // daemon.json "runtimes": name -> path of the runtime program.
  std::map<std::string, std::string> runtimes;
  // Merged into daemon.json "runtimes" as given (e.g. the "runtimes" object
  // of deploy's docker-daemon.json snippet, with its runtimeArgs).
  nlohmann::json runtimes_json = nlohmann::json::object();
  absl::Duration ready_timeout = absl::Seconds(30);
};

class DockerDaemon {
 public:
  // Starts dockerd (which starts its own containerd) and waits until
  // `docker version` answers.
  static absl::StatusOr<std::unique_ptr<DockerDaemon>> Start(const DockerOptions& options);
  ~DockerDaemon() { Stop(); }

  // /usr/bin/docker -H unix://SOCK + `args`.
  std::vector<std::string> Command(const std::vector<std::string>& args) const;
  // docker run --rm --network none RUN_FLAGS IMAGE COMMAND...
  std::vector<std::string> RunArgv(const std::vector<std::string>& run_flags,
                                   const std::string& image,
                                   const std::vector<std::string>& command) const;
  absl::Status Import(const std::string& tar, const std::string& name) const;
  std::vector<std::string> ListArgv() const;  // ps -aq

  // Removes containers and images, SIGTERMs dockerd (SIGKILL after 10 s),
  // kills containerd and shims still naming the state dir, unmounts what is
  // left under it. Returns "" or what went wrong. Idempotent.
  std::string Stop();

  absl::Duration ready_time() const { return ready_time_; }
  absl::Duration stop_time() const { return stop_time_; }
  std::string Log() const;  // last lines of dockerd's log

 private:
  DockerDaemon(std::string state_dir, pid_t pid) : state_dir_(std::move(state_dir)), pid_(pid) {}
  std::string Socket() const { return state_dir_ + "/docker.sock"; }

  std::string state_dir_;
  pid_t pid_;
  absl::Duration ready_time_;
  absl::Duration stop_time_;
};

// Writes an executable script at `path` that Docker's containerd-shim can
// call as a runtime: exec `hook_argv...` runtime --runtime /usr/bin/runc -- "$@".
absl::Status WriteRuntimeWrapper(const std::string& path,
                                 const std::vector<std::string>& hook_argv);

// Shell quoting for generated scripts.
std::string ShellQuote(const std::string& word);

}  // namespace pmi_shim::containers

#endif  // PMI_SHIM_TEST_CONTAINERS_ENGINES_H_
