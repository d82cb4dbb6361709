// The environment each rank of `pmi-bridge launch` starts with. Pure logic.
//
// A rank inherits the launcher's environment minus every variable that
// would point its PMI library somewhere else (a PMI_FD or PMI_PORT of an
// outer launcher, PMIx variables that make MPICH refuse PMI-1 with
// "launcher not compatible", reference/protocols.md §6 pitfall 12), plus
// the rendezvous of this job:
//   PMI_FD mode:   PMI_FD, PMI_RANK, PMI_SIZE
//   PMI_PORT mode: PMI_PORT=host:port, PMI_ID, and PMI_RANK, PMI_SIZE
// and, in both, Hydra's node-local hints MPI_LOCALRANKID/MPI_LOCALNRANKS,
// which UCX and MPICH use to size shared-memory setup.
#ifndef PMI_SHIM_BRIDGE_LAUNCH_RANK_ENVIRONMENT_H_
#define PMI_SHIM_BRIDGE_LAUNCH_RANK_ENVIRONMENT_H_

#include <string>
#include <vector>

#include "absl/strings/string_view.h"

namespace pmi_shim::launch {

struct Rendezvous {
  int rank = 0;
  int size = 1;
  int fd = -1;                 // PMI_FD mode when >= 0
  std::string port_address;    // PMI_PORT mode: "127.0.0.1:4567"
  int local_rank = 0;          // position among the ranks on this node
  int local_size = 1;          // ranks on this node
};

// Whether `name` must not leak from the launcher's environment into a rank.
bool IsForeignPmiVariable(absl::string_view name);

// `inherited` holds "NAME=value" entries (e.g. from environ).
std::vector<std::string> BuildRankEnvironment(const std::vector<std::string>& inherited,
                                              const Rendezvous& rendezvous);

}  // namespace pmi_shim::launch

#endif  // PMI_SHIM_BRIDGE_LAUNCH_RANK_ENVIRONMENT_H_
