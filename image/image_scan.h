// ScanImage: what PMI/MPI an image's programs will speak, read from its
// files without running anything from it.
//
// Used by `pmi-bridge diagnose` and by `pmi-shim-client inspect` (which is
// linked statically: this library must not depend on libpmix).
//
//   ASSIGN_OR_RETURN(ImageReport report, ScanImage("/var/lib/img/rootfs"));
//   std::cout << FormatImageReport(report);
//
// `root` is a rootfs directory or an OCI bundle (a directory holding
// config.json, whose root.path names the rootfs, relative to the bundle).
// The walk covers the library directories (/lib, /lib64, /usr/lib,
// /usr/lib64, /usr/lib/<triplet>, /usr/local/lib*, /opt/*) and everything
// below them (Open MPI's lib/openmpi, PMIx plugin dirs lib/pmix, ...), only
// reads files whose names look like PMI/MPI libraries, never follows a
// directory symlink, and resolves file symlinks lexically inside the root
// (an absolute target is taken relative to the root, ".." stops at it), so
// an image cannot point the scan at host files.
#ifndef PMI_SHIM_IMAGE_IMAGE_SCAN_H_
#define PMI_SHIM_IMAGE_IMAGE_SCAN_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "image/library_classifier.h"
#include "nlohmann/json.hpp"

namespace pmi_shim::image {

// Client protocol names (stable, used in --json).
inline constexpr char kProtoPmi1[] = "PMI-1";
inline constexpr char kProtoPmi2[] = "PMI-2";
inline constexpr char kProtoPmix[] = "PMIx";

struct ImageReport {
  std::string root;                    // the rootfs that was scanned
  std::vector<LibraryInfo> libraries;  // sorted by path, each real file once

  // Derived facts.
  std::string mpi_family;   // kFamilyMpich/OpenMpi/IntelMpi/Mvapich, or "" (none found)
  std::string mpi_version;  // "4.0.2"
  // The protocol the image's MPI uses unless told otherwise ("" if no MPI
  // and no PMI library), and every protocol it can be made to speak.
  std::string default_protocol;
  std::vector<std::string> client_protocols;  // subset of PMI-1, PMI-2, PMIx, in that order
  std::string pmix_version;                   // the PMIx client library's version, "" if none
  std::vector<std::string> pmix_components;   // "psec/munge", "gds/ds21", "bfrops/v41", ... sorted
  std::vector<std::string> notes;  // one line each: how a protocol was inferred, oddities

  bool HasComponent(const std::string& component) const;
  bool Speaks(const std::string& protocol) const;
};

// Scans `root` (rootfs or OCI bundle). NotFound / InvalidArgument (one line)
// when it is not a readable directory or the bundle's config.json is bad.
absl::StatusOr<ImageReport> ScanImage(const std::string& root);

// The derivation step on its own (pure): fills the derived facts of a report
// whose `libraries` are set.
void DeriveImageFacts(ImageReport& report);

// A short human table: one line per library, then the derived facts.
std::string FormatImageReport(const ImageReport& report);

// Schema in bridge/diagnose/README.md ("image" object).
nlohmann::json ImageReportToJson(const ImageReport& report);

// Resolves `path` (absolute, inside the image) lexically under `root`:
// symlinks are read with readlink and re-rooted; ".." never leaves the root.
// Returns the host path of the final non-symlink, or NotFound /
// FailedPrecondition (too many links).
absl::StatusOr<std::string> ResolveInRoot(const std::string& root, const std::string& path);

}  // namespace pmi_shim::image

#endif  // PMI_SHIM_IMAGE_IMAGE_SCAN_H_
