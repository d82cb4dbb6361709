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
#include "image/elf_reader.h"

namespace pmi_shim::image {

// kPmixV1: a PMIx v1.x client (OpenPMIx 1.x, or Open MPI 2.0/2.1 with its
// embedded PMIx 1.x): it speaks only the usock wire, which no current PMIx
// server offers, so it needs the bridge's native v1.2 endpoint.
enum class ClientFamily { kPmi, kPmix, kPmixV1 };

// Pure: the family that sonames such as "libmpi.so.40" or "libmpich.so.12"
// imply; nullopt when none of them names a PMI client.
std::optional<ClientFamily> ClientFamilyOfLibraries(const std::vector<std::string>& needed);

// Pure: whether a libpmix is a v1.x one. v1 has PMIx_Register_errhandler,
// which v2 replaced by PMIx_Register_event_handler (the soname, libpmix.so.2,
// is the same for 1.2 and 2.x).
bool IsPmixV1Library(const ElfInfo& library);

// The family of the program file at `path`; nullopt when it cannot tell
// (not ELF, static, a script, a container engine, unreadable). A program
// that links libpmix has the library found the way the loader would (its
// RUNPATH/RPATH, LD_LIBRARY_PATH, the usual system directories) and read,
// to tell v1 from later versions.
std::optional<ClientFamily> DetectClientFamily(const std::string& path);

// The family an image's MPI/PMI client speaks, read from its files
// (image_scan.h): `root` is a rootfs or an OCI bundle. nullopt when no
// client library is found or the directory cannot be read.
std::optional<ClientFamily> DetectImageClientFamily(const std::string& root);

// For a container command: the first argument that names an image
// directory the bridge can read (an OCI bundle: a directory with
// config.json; or a rootfs: a directory with usr/lib), e.g. `runc run
// --bundle DIR`, `ch-run DIR -- app`, a launch script given its bundle.
std::optional<std::string> ImageDirectoryOf(const std::vector<std::string>& argv);

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

// Like DetectClientFamily (without the v1 library look-up: a libmpi.so.20
// still says kPmixV1), but also follows a "#!" line to its interpreter
// (and `env NAME` through `path_variable`) and the libraries the program
// needs, breadth first, three levels deep, found in `library_dirs` (so an
// application whose own library links MPI is seen). Used inside the
// container by pmi-shim-client, where "/" is the image.
ClientEvidence DetectClientFamilyDeep(const std::string& program,
                                      const std::vector<std::string>& library_dirs,
                                      const std::string& path_variable);

}  // namespace pmi_shim::image

#endif  // PMI_SHIM_IMAGE_CLIENT_DETECTION_H_
