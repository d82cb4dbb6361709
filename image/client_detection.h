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

#include "absl/strings/string_view.h"

namespace pmi_shim::image {

enum class ClientFamily { kPmi, kPmix };

// Pure: the family that sonames such as "libmpi.so.40" or "libmpich.so.12"
// imply; nullopt when none of them names a PMI client.
std::optional<ClientFamily> ClientFamilyOfLibraries(const std::vector<std::string>& needed);

// The family of the program file at `path`; nullopt when it cannot tell
// (not ELF, static, a script, a container engine, unreadable).
std::optional<ClientFamily> DetectClientFamily(const std::string& path);

// What a deeper look found, and one line saying how ("links libmpich.so.12",
// "libsolver.so.1 links libmpi.so.40").
struct ClientEvidence {
  std::optional<ClientFamily> family;
  std::string why;
};

// Where a program's libraries are looked for, in order: LD_LIBRARY_PATH,
// the program's own ../lib and ../lib64, then the standard directories.
std::vector<std::string> LibrarySearchDirs(const std::string& program,
                                           const std::string& ld_library_path);

// Like DetectClientFamily, but also follows a "#!" line to its interpreter
// (and `env NAME` through `path_variable`) and the libraries the program
// needs, breadth first, three levels deep, found in `library_dirs` (so an
// application whose own library links MPI is seen). Used inside the
// container by pmi-shim-client, where "/" is the image.
ClientEvidence DetectClientFamilyDeep(const std::string& program,
                                      const std::vector<std::string>& library_dirs,
                                      const std::string& path_variable);

}  // namespace pmi_shim::image

#endif  // PMI_SHIM_IMAGE_CLIENT_DETECTION_H_
