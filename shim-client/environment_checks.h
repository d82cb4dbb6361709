// Detectors for container set-ups that break an MPI job in ways PMI alone
// does not show: the N-singletons symptom (no rendezvous reaches the
// rank), Apptainer/Singularity modes that strip the environment or make
// /tmp, IPC or /dev/shm private, SingularityCE's OCI mode. Each finding is
// one line: what is wrong, what breaks, which flag fixes it.
//
// Pure: EnvironmentFacts is gathered by GatherFacts() in the thin part
// (environment_probe.h); everything here is table-tested.
//
// Flag facts (reference/anchors.md §4; Apptainer/SingularityCE docs):
//  - --cleanenv (-e) drops the host environment; --containall (-C) implies
//    --contain, --cleanenv, --ipc and --pid;
//  - --contain (-c) gives a minimal /dev and an empty /tmp and $HOME;
//  - Apptainer/SingularityCE share the host IPC namespace by default;
//    --ipc (-i) makes it private;
//  - SingularityCE --oci runs under crun/runc with --compat defaults (no
//    host environment, private /tmp, own PID and IPC namespaces); its
//    containers carry SINGULARITY_CONTAINER and SINGULARITY_NAME but not the
//    SINGULARITY_COMMAND / SINGULARITY_ENVIRONMENT the native runtime sets;
//    --no-compat restores the native defaults;
//  - ch-run shares the host's environment, IPC and /tmp unless --private-tmp;
//    every ch-run (and unprivileged Apptainer) makes its own user namespace,
//    which breaks single-copy (CMA) transfers between ranks: ch-run --join,
//    apptainer --sharens;
//  - Docker/Podman give every container a private IPC namespace and
//    /dev/shm (--ipc=host shares them) and a private /tmp.
#ifndef PMI_SHIM_SHIM_CLIENT_ENVIRONMENT_CHECKS_H_
#define PMI_SHIM_SHIM_CLIENT_ENVIRONMENT_CHECKS_H_

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"

namespace pmi_shim::shim_client {

struct EnvironmentFacts {
  std::map<std::string, std::string> env;  // this process's environment
  // The rendezvous directory, when one was found, and where we looked.
  std::optional<std::string> rendezvous_dir;
  std::vector<std::string> searched_dirs;
  // PMI_SHIM_HOST_* values from the env file ("" when absent).
  std::string host_ipc_ns;
  std::string host_shm;
  std::string host_tmp;
  std::string host_user_ns;
  // What this process sees: readlink of /proc/self/ns/ipc ("" unknown),
  // "DEV:INO" of /dev/shm and /tmp (nullopt: missing).
  std::string ipc_ns;
  std::string user_ns;  // readlink of /proc/self/ns/user ("" unknown)
  std::optional<std::string> shm;
  std::optional<std::string> tmp;
  // Why the inherited PMI_FD cannot be used here (closed, not a socket:
  // copied into a container by a wrapper); empty when usable or absent.
  std::string dead_pmi_fd;
  bool has_dockerenv = false;     // /.dockerenv
  bool has_containerenv = false;  // /run/.containerenv (Podman)
};

enum class Engine { kUnknown, kApptainer, kSingularity, kCharliecloud, kPodman, kDocker };

Engine DetectEngine(const EnvironmentFacts& facts);
absl::string_view EngineName(Engine engine);

// SingularityCE OCI mode (--oci, or `oci mode = yes` in singularity.conf).
bool LooksLikeSingularityOciMode(const EnvironmentFacts& facts);

struct Finding {
  enum class Severity { kWarning, kFatal };
  Severity severity = Severity::kWarning;
  std::string code;     // stable id for --json and tests, e.g. "n-singletons"
  std::string message;  // one line: what is wrong; what breaks; the fix
};

// Every finding, fatal ones first.
std::vector<Finding> CheckEnvironment(const EnvironmentFacts& facts);

// True if any finding is fatal.
bool HasFatal(const std::vector<Finding>& findings);

}  // namespace pmi_shim::shim_client

#endif  // PMI_SHIM_SHIM_CLIENT_ENVIRONMENT_CHECKS_H_
