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

// Keys the bridge always writes to the env file. Every other line is a
// variable to export verbatim to the application (for instance PMI_RANK,
// PMI_SIZE, or PMIX_* when the bridge hosts a PMIx server).
inline constexpr char kProtocolKey[] = "PMI_SHIM_PROTOCOL";  // pmi1 | pmi2 | pmi | pmix
inline constexpr char kRankKey[] = "PMI_RANK";
inline constexpr char kSizeKey[] = "PMI_SIZE";

using EnvEntries = std::vector<std::pair<std::string, std::string>>;

// "KEY=VALUE\n" per entry. Keys are [A-Za-z_][A-Za-z0-9_]*; values hold no
// newline or NUL. Order is kept.
absl::StatusOr<std::string> FormatEnvFile(const EnvEntries& entries);
// The inverse; blank lines and lines starting with '#' are skipped. An
// error names the line number and what is wrong with it.
absl::StatusOr<EnvEntries> ParseEnvFile(const std::string& text);
// The value of `key` among `entries`, or an empty string.
std::string FindEnv(const EnvEntries& entries, const std::string& key);

}  // namespace pmi_shim::rendezvous

#endif  // PMI_SHIM_COMMON_RENDEZVOUS_H_
