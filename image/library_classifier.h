// Library classifier: given a file name and its bytes, says whether it is a
// PMI/MPI library (or a PMIx plugin) and which family and version. Pure: the
// walk over an image is in image_scan.h.
//
// What identifies each family (checked on the real Debian 12 packages where
// available; see README.md "Evidence"):
//   libpmix.so.*     "OpenPMIx 4.2.2rc2 (PMIx Standard: ...)" (v3+), "PMIx vX.Y.Z"
//                    or "PMIx X.Y.Z" in older builds; built-in components are
//                    dynamic symbols pmix_mca_<framework>_<name>_component
//                    (Debian 4.2.2: psec munge/native, gds ds12/ds21/hash,
//                    bfrops v12..v41), loadable ones are files
//                    [pmix_]mca_<framework>_<name>.so under lib/pmix
//   libmpich.so.12,  MPICH: symbol MPII_Version_string (4.x) or
//   libmpi.so.12     MPIR_Version_string (3.x) holds "4.0.2"; "MPICH Version:"
//                    format string; the configure line (MPII_Version_configure)
//                    tells --with-pmi/--with-pmix
//   libmpi.so.12     Intel MPI: "Intel(R) MPI Library 2021.10 ..."; MVAPICH2:
//                    "MVAPICH2" strings (MPICH-derived, same symbols)
//   libmpi.so.40     Open MPI 3.x-5.x: "Open MPI" plus a bare "v4.1.4" string
//                    (ompi_version), or a literal "Open MPI v4.1.4"
//   libpmi2.so.*     PMI-2 wire client (Slurm contribs/pmi2; PMI2_Init symbol),
//                    or OpenPMIx's PMI-2-over-PMIx compat library (<= v3.2)
//   libpmi.so.*      Slurm's libpmi is NOT a wire client (Slurm RPC,
//                    protocols.md §1.1); OpenPMIx's compat libpmi maps PMI-1
//                    onto PMIx (§4.8)
//   mca_pmix_*.so    Open MPI's PMIx glue: ext2x/ext3x/ext4x use the image's
//                    libpmix, pmix2x/pmix3x embed their own copy (scanned for
//                    its version), s1/s2 use Slurm's libpmi/libpmi2
#ifndef PMI_SHIM_IMAGE_LIBRARY_CLASSIFIER_H_
#define PMI_SHIM_IMAGE_LIBRARY_CLASSIFIER_H_

#include <optional>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"

namespace pmi_shim::image {

// Stable family names (they appear in --json output).
inline constexpr char kFamilyPmix[] = "pmix";
inline constexpr char kFamilyPmixPlugin[] = "pmix-plugin";
inline constexpr char kFamilyMpich[] = "mpich";
inline constexpr char kFamilyOpenMpi[] = "openmpi";
inline constexpr char kFamilyOpenMpiPmixComponent[] = "openmpi-pmix-component";
inline constexpr char kFamilyIntelMpi[] = "intel-mpi";
inline constexpr char kFamilyMvapich[] = "mvapich";
inline constexpr char kFamilySlurmPmi2[] = "slurm-pmi2";
inline constexpr char kFamilySlurmPmi[] = "slurm-pmi";
inline constexpr char kFamilyPmixPmiCompat[] = "pmix-pmi-compat";

struct LibraryInfo {
  std::string path;     // inside the image, absolute ("/usr/lib/libpmix.so.2")
  std::string soname;   // DT_SONAME, "" if none
  std::string family;   // one of kFamily*
  std::string version;  // "" when no version string was found
  // For pmix-plugin and openmpi-pmix-component: "psec/munge", "pmix/ext3x".
  std::string component;
  // pmix (built-in components) and embedded PMIx: "psec/munge", "gds/ds21", ...
  std::vector<std::string> components;
  std::vector<std::string> needed;    // DT_NEEDED
  std::vector<std::string> evidence;  // why: "DT_SONAME libpmix.so.2", "string \"OpenPMIx 4.2.2\""
  // mpich: the configure line, when present (says --with-pmi/--with-pmix).
  std::string configure;
};

// True when a file with this name may be one of the libraries above, so the
// walker reads only those.
bool IsCandidateLibraryName(absl::string_view basename);

// Classifies one file. nullopt when it is not a PMI/MPI library (or not an
// ELF file we can read). `path` is recorded as is.
std::optional<LibraryInfo> ClassifyLibrary(absl::string_view path, absl::string_view bytes);

// The PMIx version a blob embeds ("4.2.2rc2"), or "".
std::string FindPmixVersion(absl::string_view bytes);

}  // namespace pmi_shim::image

#endif  // PMI_SHIM_IMAGE_LIBRARY_CLASSIFIER_H_
