// What `pmi-shim-client exec` does before it execs the application: which
// socket to connect, which environment the application gets. Pure: the
// caller gathers the facts (its environment, the located rendezvous) and
// carries out the plan (connect, relay, execvp).
//
// The environment is the one thing that decides whether the application's
// PMI library finds its server, so the rules are strict:
//  - PMI-1/PMI-2 through pmi.sock: drop every variable that would send the
//    client elsewhere or make MPICH refuse (PMI_FD/PMI_PORT/PMI_ID of the
//    host, PMIX_*, PRTE_LAUNCHED: MPICH treats PMI_SIZE together with
//    PMIX_NAMESPACE as an ambiguous launcher), then add the env file's
//    exported entries and finally PMI_FD of the connected socket.
//  - PMIx: drop the PMI-1/2 variables and the host's PMIX_*, add the env
//    file's PMIX_* entries (the URI may later be pointed at a local relay).
//  - No rendezvous: leave the environment alone (direct mode when it holds
//    a rendezvous of its own, else a singleton, which the caller warns about).
#ifndef PMI_SHIM_SHIM_CLIENT_EXEC_PLAN_H_
#define PMI_SHIM_SHIM_CLIENT_EXEC_PLAN_H_

#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "shim-client/rendezvous_locator.h"

namespace pmi_shim::shim_client {

// "KEY=VALUE" entries, in order, as execve takes them.
using Environ = std::vector<std::string>;

// The value of `key` in `environ`, or nullopt.
std::optional<std::string> LookupEnv(const Environ& environ, absl::string_view key);
// `environ` with `key` set to `value` (replacing an earlier entry in place).
void SetEnv(Environ& environ, absl::string_view key, absl::string_view value);

// Variables that describe some PMI or PMIx rendezvous.
bool IsPmiVariable(absl::string_view name);
// Whether `environ` already lets a PMI/PMIx client find a server.
bool HasDirectRendezvous(const Environ& environ);

enum class ExecMode {
  kPmiSocket,  // connect pmi.sock, hand it over as PMI_FD
  kPmix,       // PMIx env; TCP to the server, or a local relay to pmix.sock
  kDirect,     // no rendezvous dir, but the environment has its own
  kSingleton,  // nothing at all: the application will start as rank 0 of 1
};

struct ExecPlan {
  ExecMode mode = ExecMode::kSingleton;
  Environ environment;  // what the application gets (PMI_FD added later)
  std::string pmi_socket;   // kPmiSocket: DIR/pmi.sock
  std::string pmix_socket;  // kPmix: DIR/pmix.sock (may not exist)
  std::string pmix_uri;     // kPmix: the server URI from the env file
  // kPmix: the bridge's user namespace (PMI_SHIM_HOST_USER_NS). A client in
  // another one must go through pmix.sock even when the URI is reachable:
  // only there is its identity vouched for and rewritten (PMIx `native`
  // security compares numeric ids).
  std::string host_user_namespace;
  std::string description;  // one line for the debug log
};

// Errors: a rendezvous whose env file lacks what its protocol needs.
absl::StatusOr<ExecPlan> PlanExec(const Environ& current, const std::optional<Rendezvous>& found);

}  // namespace pmi_shim::shim_client

#endif  // PMI_SHIM_SHIM_CLIENT_EXEC_PLAN_H_
