#include "bridge/launch/rank_environment.h"

#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "bridge/upstream/host_endpoint.h"
#include "common/rendezvous.h"

namespace pmi_shim::launch {

std::vector<std::string> BuildRankEnvironment(const std::vector<std::string>& inherited,
                                              const Rendezvous& rendezvous) {
  const bool set_local = rendezvous.local_rank >= 0 && rendezvous.local_size > 0;
  std::vector<std::string> env;
  env.reserve(inherited.size() + 6);
  for (const std::string& entry : inherited) {
    const absl::string_view name = absl::string_view(entry).substr(0, entry.find('='));
    if (upstream::IsHostRendezvousVariable(name, upstream::PresentedProtocol::kPmiWire)) continue;
    if (set_local && (name == "MPI_LOCALRANKID" || name == "MPI_LOCALNRANKS")) continue;
    env.push_back(entry);
  }
  if (!rendezvous.shim_dir.empty()) {
    env.push_back(absl::StrCat(rendezvous::kDirVariable, "=", rendezvous.shim_dir));
  } else if (rendezvous.fd >= 0) {
    env.push_back(absl::StrCat("PMI_FD=", rendezvous.fd));
  } else {
    env.push_back(absl::StrCat("PMI_PORT=", rendezvous.port_address));
    env.push_back(absl::StrCat("PMI_ID=", rendezvous.rank));
  }
  env.push_back(absl::StrCat("PMI_RANK=", rendezvous.rank));
  env.push_back(absl::StrCat("PMI_SIZE=", rendezvous.size));
  if (set_local) {
    env.push_back(absl::StrCat("MPI_LOCALRANKID=", rendezvous.local_rank));
    env.push_back(absl::StrCat("MPI_LOCALNRANKS=", rendezvous.local_size));
  }
  return env;
}

std::vector<std::string> BuildPmixRankEnvironment(const std::vector<std::string>& inherited,
                                                  const std::vector<std::string>& pmix_entries) {
  absl::flat_hash_set<absl::string_view> given;
  for (const std::string& entry : pmix_entries) {
    given.insert(absl::string_view(entry).substr(0, entry.find('=')));
  }
  std::vector<std::string> env;
  env.reserve(inherited.size() + pmix_entries.size());
  for (const std::string& entry : inherited) {
    const absl::string_view name = absl::string_view(entry).substr(0, entry.find('='));
    if (given.contains(name)) continue;
    if (upstream::IsHostRendezvousVariable(name, upstream::PresentedProtocol::kPmix)) continue;
    env.push_back(entry);
  }
  env.insert(env.end(), pmix_entries.begin(), pmix_entries.end());
  return env;
}

}  // namespace pmi_shim::launch
