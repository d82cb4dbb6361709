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
#include "image/client_detection.h"
#include "shim-client/inherited_fd.h"
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
  Environ environment;      // what the application gets (PMI_FD added later)
  std::string pmi_socket;   // kPmiSocket: DIR/pmi.sock
  std::string pmix_socket;  // kPmix: DIR/pmix.sock (may not exist)
  std::string pmix_uri;     // kPmix: the server URI from the env file
  // kPmix: the bridge's user namespace (PMI_SHIM_HOST_USER_NS). A client in
  // another one must go through pmix.sock even when the URI is reachable:
  // only there is its identity vouched for and rewritten (PMIx `native`
  // security compares numeric ids).
  std::string host_user_namespace;
  std::string description;  // one line for the debug log
  // One line for stderr: the inherited PMI_FD was not usable and the rank
  // directory is used instead.
  std::string notice;
};

using image::ClientFamily;

// The families a rank directory serves (PMI_SHIM_OFFERS; without it, the
// family of PMI_SHIM_PROTOCOL), and the one it prefers.
bool Offers(const Rendezvous& found, ClientFamily family);
ClientFamily PreferredFamily(const Rendezvous& found);

struct FamilyChoice {
  ClientFamily family = ClientFamily::kPmi;
  std::string why;      // one line for the debug log
  std::string warning;  // set when the program's library is not served here
};

// Which side of the rank directory the application gets: what its program
// links (`program`), else what the image's MPI speaks (`image`), else the
// bridge's preference; a family the directory does not offer is never
// chosen (the warning then says why the application will likely fail).
FamilyChoice ChooseFamily(const Rendezvous& found, const image::ClientEvidence& program,
                          const image::ClientEvidence& image);

// Whether the env file lacks what `family` needs, so that the bridge must
// be asked on request.sock (it sets some things up only on demand).
bool NeedsRequest(const Rendezvous& found, ClientFamily family);

// `found` with `added` entries (a request.sock reply) replacing or joining
// its own.
void MergeEntries(Rendezvous& found, const rendezvous::EnvEntries& added);

struct ExecChoices {
  // The side of the rank directory to use; nullopt: its preferred one.
  std::optional<ClientFamily> family;
  // The inherited PMI_FD, judged; nullopt when the environment has none.
  std::optional<FdJudgement> inherited_fd;
};

// Errors: a rendezvous whose env file lacks what its protocol needs.
absl::StatusOr<ExecPlan> PlanExec(const Environ& current, const std::optional<Rendezvous>& found,
                                  const ExecChoices& choices = {});

}  // namespace pmi_shim::shim_client

#endif  // PMI_SHIM_SHIM_CLIENT_EXEC_PLAN_H_
