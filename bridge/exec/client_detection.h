// Which PMI family the client in a command speaks, read from the shared
// libraries the program links (its ELF DT_NEEDED entries), for
// `pmi-bridge exec --downstream auto`: an Open MPI or libpmix program gets
// a PMIx server from the bridge even under a PMI-1/PMI-2 host, an MPICH or
// Slurm-libpmi2 program a PMI server even under a PMIx host. Nothing of the
// program is run.
#ifndef PMI_SHIM_BRIDGE_EXEC_CLIENT_DETECTION_H_
#define PMI_SHIM_BRIDGE_EXEC_CLIENT_DETECTION_H_

#include <optional>
#include <string>
#include <vector>

#include "bridge/diagnose/elf_reader.h"

namespace pmi_shim::exec {

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
bool IsPmixV1Library(const diagnose::ElfInfo& library);

// The family of the program file at `path`; nullopt when it cannot tell
// (not ELF, static, a script, a container engine, unreadable). A program
// that links libpmix has the library found the way the loader would (its
// RUNPATH/RPATH, LD_LIBRARY_PATH, the usual system directories) and read,
// to tell v1 from later versions.
std::optional<ClientFamily> DetectClientFamily(const std::string& path);

// The family an image's MPI/PMI client speaks, read from its files
// (diagnose/image_scan.h): `root` is a rootfs or an OCI bundle. nullopt
// when no client library is found or the directory cannot be read.
std::optional<ClientFamily> DetectImageClientFamily(const std::string& root);

// For a container command: the first argument that names an image
// directory the bridge can read (an OCI bundle: a directory with
// config.json; or a rootfs: a directory with usr/lib), e.g. `runc run
// --bundle DIR`, `ch-run DIR -- app`, a launch script given its bundle.
std::optional<std::string> ImageDirectoryOf(const std::vector<std::string>& argv);

}  // namespace pmi_shim::exec

#endif  // PMI_SHIM_BRIDGE_EXEC_CLIENT_DETECTION_H_
