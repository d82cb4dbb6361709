#include "image/client_detection.h"

#include <fstream>
#include <iterator>

#include "absl/strings/match.h"
#include "image/elf_reader.h"

namespace pmi_shim::image {

std::optional<ClientFamily> ClientFamilyOfLibraries(const std::vector<std::string>& needed) {
  for (const std::string& soname : needed) {
    // Open MPI 4/5 (libmpi.so.40) and libpmix clients speak PMIx.
    if (absl::StartsWith(soname, "libpmix.so") || absl::StartsWith(soname, "libmpi.so.40")) {
      return ClientFamily::kPmix;
    }
    // MPICH, its derivatives (libmpi.so.12: Intel MPI, MVAPICH), Slurm's
    // libpmi/libpmi2: the PMI wire.
    if (absl::StartsWith(soname, "libmpich.so") || absl::StartsWith(soname, "libmpi.so.12") ||
        absl::StartsWith(soname, "libpmi.so") || absl::StartsWith(soname, "libpmi2.so")) {
      return ClientFamily::kPmi;
    }
  }
  return std::nullopt;
}

std::optional<ClientFamily> DetectClientFamily(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return std::nullopt;
  std::string head(4, '\0');
  if (!in.read(&head[0], 4) || !LooksLikeElf(head)) return std::nullopt;
  in.seekg(0);
  const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  absl::StatusOr<ElfInfo> elf = ParseElf(bytes);
  if (!elf.ok()) return std::nullopt;
  return ClientFamilyOfLibraries(elf->needed);
}

}  // namespace pmi_shim::image
