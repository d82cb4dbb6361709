#include "bridge/exec/client_detection.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <iterator>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "bridge/diagnose/elf_reader.h"
#include "bridge/diagnose/image_scan.h"
#include "bridge/diagnose/version_number.h"

namespace pmi_shim::exec {

std::optional<ClientFamily> ClientFamilyOfLibraries(const std::vector<std::string>& needed) {
  for (const std::string& soname : needed) {
    // Open MPI 2.0/2.1 (libmpi.so.20) embeds PMIx 1.x.
    if (absl::StartsWith(soname, "libmpi.so.20")) return ClientFamily::kPmixV1;
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

bool IsPmixV1Library(const diagnose::ElfInfo& library) {
  return library.HasSymbol("PMIx_Register_errhandler") &&
         !library.HasSymbol("PMIx_Register_event_handler");
}

namespace {

std::optional<diagnose::ElfInfo> ReadElf(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return std::nullopt;
  std::string head(4, '\0');
  if (!in.read(&head[0], 4) || !diagnose::LooksLikeElf(head)) return std::nullopt;
  in.seekg(0);
  const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  absl::StatusOr<diagnose::ElfInfo> elf = diagnose::ParseElf(bytes);
  if (!elf.ok()) return std::nullopt;
  return *std::move(elf);
}

// Where the loader would find `soname` for the program at `program`.
std::optional<std::string> FindLibrary(const std::string& program,
                                       const diagnose::ElfInfo& elf,
                                       const std::string& soname) {
  std::vector<std::string> dirs;
  const std::string origin = program.substr(0, program.rfind('/'));
  for (const std::string& dir : elf.runpath) {
    dirs.push_back(absl::StrReplaceAll(dir, {{"$ORIGIN", origin}, {"${ORIGIN}", origin}}));
  }
  if (const char* env = std::getenv("LD_LIBRARY_PATH"); env != nullptr) {
    for (absl::string_view dir : absl::StrSplit(env, ':', absl::SkipEmpty())) {
      dirs.emplace_back(dir);
    }
  }
  for (const char* dir : {"/lib/x86_64-linux-gnu", "/usr/lib/x86_64-linux-gnu",
                          "/lib/aarch64-linux-gnu", "/usr/lib/aarch64-linux-gnu", "/lib64",
                          "/usr/lib64", "/lib", "/usr/lib", "/usr/local/lib"}) {
    dirs.emplace_back(dir);
  }
  for (const std::string& dir : dirs) {
    const std::string candidate = absl::StrCat(dir, "/", soname);
    if (::access(candidate.c_str(), R_OK) == 0) return candidate;
  }
  return std::nullopt;
}

}  // namespace

std::optional<ClientFamily> DetectClientFamily(const std::string& path) {
  std::optional<diagnose::ElfInfo> elf = ReadElf(path);
  if (!elf.has_value()) return std::nullopt;
  std::optional<ClientFamily> family = ClientFamilyOfLibraries(elf->needed);
  if (family != ClientFamily::kPmix) return family;
  for (const std::string& soname : elf->needed) {
    if (!absl::StartsWith(soname, "libpmix.so")) continue;
    std::optional<std::string> library = FindLibrary(path, *elf, soname);
    if (!library.has_value()) break;
    std::optional<diagnose::ElfInfo> pmix = ReadElf(*library);
    if (pmix.has_value() && IsPmixV1Library(*pmix)) return ClientFamily::kPmixV1;
    break;
  }
  return family;
}

std::optional<ClientFamily> DetectImageClientFamily(const std::string& root) {
  absl::StatusOr<diagnose::ImageReport> report = diagnose::ScanImage(root);
  if (!report.ok()) return std::nullopt;
  if (report->default_protocol == diagnose::kProtoPmix) {
    const std::optional<diagnose::VersionNumber> version =
        diagnose::ParseVersion(report->pmix_version);
    return version.has_value() && version->major == 1 ? ClientFamily::kPmixV1
                                                      : ClientFamily::kPmix;
  }
  if (report->default_protocol == diagnose::kProtoPmi1 ||
      report->default_protocol == diagnose::kProtoPmi2) {
    return ClientFamily::kPmi;
  }
  return std::nullopt;
}

std::optional<std::string> ImageDirectoryOf(const std::vector<std::string>& argv) {
  for (size_t i = 1; i < argv.size(); ++i) {
    std::string candidate = argv[i];
    if (absl::StartsWith(candidate, "--bundle=")) candidate = candidate.substr(9);
    if (candidate.empty() || candidate == "/") continue;
    struct stat st;
    if (::stat(candidate.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) continue;
    if (::access(absl::StrCat(candidate, "/config.json").c_str(), R_OK) == 0 ||
        ::access(absl::StrCat(candidate, "/usr/lib").c_str(), F_OK) == 0) {
      return candidate;
    }
  }
  return std::nullopt;
}

}  // namespace pmi_shim::exec
