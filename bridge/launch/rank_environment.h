// The environment a rank starts with, under `pmi-bridge launch` or behind a
// `pmi-bridge exec` bridge. Pure logic.
//
// A rank inherits its parent's environment minus every variable of a host
// rendezvous (upstream::IsHostRendezvousVariable: an outer PMI_FD/PMI_PORT,
// PMIX_* that make MPICH refuse PMI-1 with "launcher not compatible",
// reference/protocols.md §6 pitfall 12), plus the rendezvous it is given:
//   PMI_FD mode:   PMI_FD, PMI_RANK, PMI_SIZE
//   PMI_PORT mode: PMI_PORT=host:port, PMI_ID, and PMI_RANK, PMI_SIZE
//   container mode: PMI_SHIM_DIR, PMI_RANK, PMI_SIZE (common/rendezvous.h)
// and, when known, Hydra's node-local hints MPI_LOCALRANKID/MPI_LOCALNRANKS,
// which UCX and MPICH use to size their shared-memory setup.
#ifndef PMI_SHIM_BRIDGE_LAUNCH_RANK_ENVIRONMENT_H_
#define PMI_SHIM_BRIDGE_LAUNCH_RANK_ENVIRONMENT_H_

#include <string>
#include <vector>

namespace pmi_shim::launch {

struct Rendezvous {
  int rank = 0;
  int size = 1;
  int fd = -1;               // PMI_FD mode when >= 0
  std::string port_address;  // PMI_PORT mode: "127.0.0.1:4567"
  // Position among, and number of, the ranks on this node; -1 keeps what the
  // parent's environment says (a real launcher above an exec bridge).
  int local_rank = -1;
  int local_size = -1;
  // Container mode: PMI_SHIM_DIR names the published rank directory, and
  // pmi-shim-client inside the container connects its rank socket.
  std::string shim_dir;
};

// `inherited` holds "NAME=value" entries (e.g. from environ).
std::vector<std::string> BuildRankEnvironment(const std::vector<std::string>& inherited,
                                              const Rendezvous& rendezvous);

// For a PMIx client: `inherited` minus every host rendezvous (an outer PMI_FD
// or PMIX_SERVER_URI must not mislead it), plus `pmix_entries` (from
// PmixServer::ClientEnvironment), which win over inherited entries of the
// same name.
std::vector<std::string> BuildPmixRankEnvironment(const std::vector<std::string>& inherited,
                                                  const std::vector<std::string>& pmix_entries);

}  // namespace pmi_shim::launch

#endif  // PMI_SHIM_BRIDGE_LAUNCH_RANK_ENVIRONMENT_H_
