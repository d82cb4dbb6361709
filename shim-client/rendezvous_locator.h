// Finding the per-rank rendezvous directory from inside a container, and
// reading what the bridge wrote into it (common/rendezvous.h is the contract).
//
// The directory is looked for, in order, at --dir (alone, when given), at
// /run/pmi-shim (where the hook or runtime wrapper mounts it), and at
// $PMI_SHIM_DIR (bind mode: Apptainer `--bind DIR`, `ch-run -b DIR:DIR`,
// where the host path is also the container path). Everything except
// Locate() is pure.
#ifndef PMI_SHIM_SHIM_CLIENT_RENDEZVOUS_LOCATOR_H_
#define PMI_SHIM_SHIM_CLIENT_RENDEZVOUS_LOCATOR_H_

#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "common/rendezvous.h"

namespace pmi_shim::shim_client {

// Present only when the container's client speaks PMIx: relayed by the
// bridge to the PMIx server's TCP listener.
inline constexpr char kPmixSocketName[] = "pmix.sock";
// Env-file keys with this prefix are facts for pmi-shim, never exported.
inline constexpr char kInternalPrefix[] = "PMI_SHIM_";
// Facts about the bridge's side, to compare with what the container sees.
inline constexpr char kHostIpcNsKey[] = "PMI_SHIM_HOST_IPC_NS";    // "ipc:[4026531839]"
inline constexpr char kHostShmKey[] = "PMI_SHIM_HOST_SHM";         // "DEV:INO" of /dev/shm
inline constexpr char kHostTmpKey[] = "PMI_SHIM_HOST_TMP";         // "DEV:INO" of /tmp
inline constexpr char kHostUserNsKey[] = "PMI_SHIM_HOST_USER_NS";  // "user:[4026531837]"

enum class Protocol {
  kPmi1,  // PMI-1 wire (1.1)
  kPmi2,  // PMI-2 wire (2.0)
  kPmi,   // either; the bridge tells them apart by the client's init
  kPmix,  // PMIx over TCP (pmix.sock relays when TCP cannot cross)
  // PMIx v1.2 over the bridge's usock endpoint in the rank directory: the
  // env file's PMIX_* entries name paths under /run/pmi-shim.
  kPmixV1,
};

absl::StatusOr<Protocol> ParseProtocol(absl::string_view name);
absl::string_view ProtocolName(Protocol protocol);

struct Rendezvous {
  std::string dir;  // as seen from here
  Protocol protocol = Protocol::kPmi;
  rendezvous::EnvEntries entries;  // the env file, in its order

  std::string SocketPath() const;      // DIR/pmi.sock
  std::string PmixSocketPath() const;  // DIR/pmix.sock
  // The value of `key` in the env file, or "".
  std::string Get(const std::string& key) const;
};

// The directories to try, in order. `flag_dir` (from --dir) replaces the
// search; `env_dir` is $PMI_SHIM_DIR ("" when unset).
std::vector<std::string> CandidateDirs(const std::string& flag_dir, const std::string& env_dir);

// Builds a Rendezvous from a directory and its env file's text. Errors name
// the file and what is wrong (bad line, missing or unknown protocol).
absl::StatusOr<Rendezvous> InterpretEnvFile(const std::string& dir, const std::string& text);

struct LocateResult {
  std::optional<Rendezvous> rendezvous;  // nullopt: no candidate has an env file
  std::vector<std::string> searched;     // the candidates looked at, for messages
};

// Reads DIR/env of each candidate; the first one that exists wins. A
// candidate whose env file exists but cannot be read or parsed is an error
// (a broken rendezvous must not silently turn into a singleton).
absl::StatusOr<LocateResult> Locate(const std::vector<std::string>& candidates);

}  // namespace pmi_shim::shim_client

#endif  // PMI_SHIM_SHIM_CLIENT_RENDEZVOUS_LOCATOR_H_
