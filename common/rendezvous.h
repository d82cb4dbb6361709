// The rendezvous that `pmi-bridge exec` publishes for a containerised rank,
// and that pmi-shim-hook and pmi-shim-client consume: one directory per rank
// holding a Unix socket and an env file. This header is the whole contract
// between the three programs.
//
//   host:       $PMI_SHIM_DIR/           (made by the bridge, owned by the job's user)
//                 pmi.sock               PMI-1/PMI-2 server for exactly one rank
//                 env                    KEY=VALUE lines the client side needs
//   container:  /run/pmi-shim/           (the same directory, bind-mounted by the
//                                         hook or the runtime wrapper), or
//               $PMI_SHIM_DIR            (bind mode: Apptainer, ch-run -b DIR:DIR)
//
// The bridge exports PMI_SHIM_DIR (the host path) to the engine command; the
// engine passes it into the container's environment (`--env PMI_SHIM_DIR`),
// which is how the hook learns which directory to carry in.
#ifndef PMI_SHIM_COMMON_RENDEZVOUS_H_
#define PMI_SHIM_COMMON_RENDEZVOUS_H_

#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"

namespace pmi_shim::rendezvous {

// Environment variable naming the host path of a rank's directory.
inline constexpr char kDirVariable[] = "PMI_SHIM_DIR";
// Where the hook mounts the directory inside a container.
inline constexpr char kContainerDir[] = "/run/pmi-shim";
// Where the hook (or a bind flag) mounts pmi-shim's own programs.
inline constexpr char kContainerToolsDir[] = "/opt/pmi-shim";
inline constexpr char kSocketName[] = "pmi.sock";
inline constexpr char kEnvFileName[] = "env";
// PMIx clients: relayed to a PMIx server (the launcher's, or one the bridge
// hosts for a PMI launcher).
inline constexpr char kPmixSocketName[] = "pmix.sock";
// Where pmi-shim-client asks for the side of an offer that the bridge sets
// up only when a client wants it (a PMIx server under a PMI launcher, the
// job's size under a PMIx launcher). One request per connection:
//   client: "pmi\n" or "pmix\n"
//   bridge: "ok\n" and env-file lines to add (the PMI_* or PMIX_* entries),
//           or "error MESSAGE\n"; then it closes.
inline constexpr char kRequestSocketName[] = "request.sock";

// Keys the bridge always writes to the env file. Every other line is a
// variable to export verbatim to the application (for instance PMI_RANK,
// PMI_SIZE, or PMIX_* when the bridge hosts a PMIx server).
inline constexpr char kProtocolKey[] = "PMI_SHIM_PROTOCOL";  // pmi1 | pmi2 | pmi | pmix
// What the directory serves, comma-separated: "pmi" (pmi.sock), "pmix"
// (pmix.sock and the PMIX_* lines). Absent: only PMI_SHIM_PROTOCOL's family.
// pmi-shim-client takes the one its program's library speaks; the protocol
// key is the preference when it cannot tell.
inline constexpr char kOffersKey[] = "PMI_SHIM_OFFERS";
// The inode of the socket the bridge handed its command as PMI_FD: an
// inherited PMI_FD whose fd is another file (or none, inside a container)
// is not the rank's.
inline constexpr char kFdInodeKey[] = "PMI_SHIM_FD_INODE";
inline constexpr char kRankKey[] = "PMI_RANK";
inline constexpr char kSizeKey[] = "PMI_SIZE";

using EnvEntries = std::vector<std::pair<std::string, std::string>>;

// "KEY=VALUE\n" per entry. Keys are [A-Za-z_][A-Za-z0-9_]*; values hold no
// newline or NUL. Order is kept.
absl::StatusOr<std::string> FormatEnvFile(const EnvEntries& entries);
// The inverse; blank lines and lines starting with '#' are skipped. An
// error names the line number and what is wrong with it.
absl::StatusOr<EnvEntries> ParseEnvFile(const std::string& text);
// The bridge's answer on request.sock, and the client's reading of it (an
// "error" reply becomes FailedPrecondition with the bridge's message).
std::string FormatRequestReply(const absl::StatusOr<EnvEntries>& reply);
absl::StatusOr<EnvEntries> ParseRequestReply(const std::string& text);

// The value of `key` among `entries`, or an empty string.
std::string FindEnv(const EnvEntries& entries, const std::string& key);

}  // namespace pmi_shim::rendezvous

#endif  // PMI_SHIM_COMMON_RENDEZVOUS_H_
