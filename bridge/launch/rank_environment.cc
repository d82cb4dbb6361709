#include "bridge/launch/rank_environment.h"

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace pmi_shim::launch {

bool IsForeignPmiVariable(absl::string_view name) {
  // Debug switches are the user's to set; everything else PMI-ish is an
  // outer launcher's rendezvous and would mislead the rank.
  if (name == "PMI_DEBUG" || name == "PMI2_DEBUG") return false;
  return absl::StartsWith(name, "PMI_") || absl::StartsWith(name, "PMI2_") ||
         absl::StartsWith(name, "PMIX_") || name == "PRTE_LAUNCHED" ||
         absl::StartsWith(name, "OMPI_COMM_WORLD_") || name == "MPI_LOCALRANKID" ||
         name == "MPI_LOCALNRANKS" || name == "SLURM_STEP_ID" ||
         name == "SLURM_JOB_ID" || name == "SLURM_JOBID";
}

std::vector<std::string> BuildRankEnvironment(const std::vector<std::string>& inherited,
                                              const Rendezvous& rendezvous) {
  std::vector<std::string> env;
  env.reserve(inherited.size() + 5);
  for (const std::string& entry : inherited) {
    const absl::string_view name = absl::string_view(entry).substr(0, entry.find('='));
    if (!IsForeignPmiVariable(name)) env.push_back(entry);
  }
  if (rendezvous.fd >= 0) {
    env.push_back(absl::StrCat("PMI_FD=", rendezvous.fd));
  } else {
    env.push_back(absl::StrCat("PMI_PORT=", rendezvous.port_address));
    env.push_back(absl::StrCat("PMI_ID=", rendezvous.rank));
  }
  env.push_back(absl::StrCat("PMI_RANK=", rendezvous.rank));
  env.push_back(absl::StrCat("PMI_SIZE=", rendezvous.size));
  env.push_back(absl::StrCat("MPI_LOCALRANKID=", rendezvous.local_rank));
  env.push_back(absl::StrCat("MPI_LOCALNRANKS=", rendezvous.local_size));
  return env;
}

}  // namespace pmi_shim::launch
