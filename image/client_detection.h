// Which PMI family the client in a command speaks, read from the shared
// libraries the program links (its ELF DT_NEEDED entries), for
// `pmi-bridge exec --downstream auto`: an Open MPI or libpmix program gets
// a PMIx server from the bridge even under a PMI-1/PMI-2 host, an MPICH or
// Slurm-libpmi2 program a PMI server even under a PMIx host. Nothing of the
// program is run.
#ifndef PMI_SHIM_IMAGE_CLIENT_DETECTION_H_
#define PMI_SHIM_IMAGE_CLIENT_DETECTION_H_

#include <optional>
#include <string>
#include <vector>

namespace pmi_shim::image {

enum class ClientFamily { kPmi, kPmix };

// Pure: the family that sonames such as "libmpi.so.40" or "libmpich.so.12"
// imply; nullopt when none of them names a PMI client.
std::optional<ClientFamily> ClientFamilyOfLibraries(const std::vector<std::string>& needed);

// The family of the program file at `path`; nullopt when it cannot tell
// (not ELF, static, a script, a container engine, unreadable).
std::optional<ClientFamily> DetectClientFamily(const std::string& path);

}  // namespace pmi_shim::image

#endif  // PMI_SHIM_IMAGE_CLIENT_DETECTION_H_
