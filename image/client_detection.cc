#include "image/client_detection.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <iterator>

#include "absl/algorithm/container.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "image/elf_reader.h"
#include "image/image_scan.h"
#include "image/version_number.h"

namespace pmi_shim::image {

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
        absl::StartsWith(soname, "libmpi_cray.so") || absl::StartsWith(soname, "libmpich") ||
        absl::StartsWith(soname, "libpmi.so") || absl::StartsWith(soname, "libpmi2.so")) {
      return ClientFamily::kPmi;
    }
  }
  return std::nullopt;
}

bool IsPmixV1Library(const ElfInfo& library) {
  return library.HasSymbol("PMIx_Register_errhandler") &&
         !library.HasSymbol("PMIx_Register_event_handler");
}

namespace {

std::optional<ElfInfo> ReadElf(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return std::nullopt;
  std::string head(4, '\0');
  if (!in.read(&head[0], 4) || !LooksLikeElf(head)) return std::nullopt;
  in.seekg(0);
  const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  absl::StatusOr<ElfInfo> elf = ParseElf(bytes);
  if (!elf.ok()) return std::nullopt;
  return *std::move(elf);
}

// Where the loader would find `soname` for the program at `program`.
std::optional<std::string> FindLibraryOf(const std::string& program, const ElfInfo& elf,
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
  std::optional<ElfInfo> elf = ReadElf(path);
  if (!elf.has_value()) return std::nullopt;
  std::optional<ClientFamily> family = ClientFamilyOfLibraries(elf->needed);
  if (family != ClientFamily::kPmix) return family;
  for (const std::string& soname : elf->needed) {
    if (!absl::StartsWith(soname, "libpmix.so")) continue;
    std::optional<std::string> library = FindLibraryOf(path, *elf, soname);
    if (!library.has_value()) break;
    std::optional<ElfInfo> pmix = ReadElf(*library);
    if (pmix.has_value() && IsPmixV1Library(*pmix)) return ClientFamily::kPmixV1;
    break;
  }
  return family;
}

std::optional<ClientFamily> DetectImageClientFamily(const std::string& root) {
  absl::StatusOr<ImageReport> report = ScanImage(root);
  if (!report.ok()) return std::nullopt;
  if (report->default_protocol == kProtoPmix) {
    const std::optional<VersionNumber> version = ParseVersion(report->pmix_version);
    return version.has_value() && version->major == 1 ? ClientFamily::kPmixV1 : ClientFamily::kPmix;
  }
  if (report->default_protocol == kProtoPmi1 || report->default_protocol == kProtoPmi2) {
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

namespace {

// Sonames that never lead to an MPI library: not worth reading.
bool IsSystemLibrary(absl::string_view soname) {
  for (const char* prefix : {"libc.so", "libm.so", "libdl.so", "librt.so", "libpthread.so",
                             "libstdc++.so", "libgcc_s.so", "ld-linux", "libz.so", "libutil.so"}) {
    if (absl::StartsWith(soname, prefix)) return true;
  }
  return false;
}

std::optional<std::string> ReadSmall(const std::string& path, size_t limit) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return std::nullopt;
  std::string bytes;
  bytes.resize(limit);
  in.read(&bytes[0], static_cast<std::streamsize>(limit));
  bytes.resize(static_cast<size_t>(in.gcount()));
  return bytes;
}

std::optional<std::string> FindIn(const std::vector<std::string>& dirs, const std::string& name) {
  for (const std::string& dir : dirs) {
    const std::string candidate = dir + "/" + name;
    std::ifstream probe(candidate, std::ios::binary);
    if (probe) return candidate;
  }
  return std::nullopt;
}

std::string Basename(const std::string& path) { return path.substr(path.rfind('/') + 1); }

// An interpreter named by a "#!" line, resolved through PATH for `env X`.
std::optional<std::string> Interpreter(const std::string& head, const std::string& path_variable) {
  if (!absl::StartsWith(head, "#!")) return std::nullopt;
  std::string line = head.substr(
      2, head.find('\n') == std::string::npos ? std::string::npos : head.find('\n') - 2);
  std::vector<std::string> words = absl::StrSplit(line, absl::ByAnyChar(" \t"), absl::SkipEmpty());
  if (words.empty()) return std::nullopt;
  if (Basename(words[0]) != "env" || words.size() < 2) return words[0];
  std::string name = words[1] == "-S" && words.size() > 2 ? words[2] : words[1];
  if (name.find('/') != std::string::npos) return name;
  std::vector<std::string> dirs = absl::StrSplit(path_variable, ':', absl::SkipEmpty());
  return FindIn(dirs, name);
}

}  // namespace

std::vector<std::string> LibrarySearchDirs(const std::string& program,
                                           const std::string& ld_library_path) {
  std::vector<std::string> dirs = absl::StrSplit(ld_library_path, ':', absl::SkipEmpty());
  const size_t slash = program.rfind('/');
  if (slash != std::string::npos) {
    const std::string bin = slash == 0 ? "" : program.substr(0, slash);
    const std::string prefix = bin.substr(0, bin.rfind('/'));
    dirs.push_back(prefix + "/lib");
    dirs.push_back(prefix + "/lib64");
    dirs.push_back(bin);
  }
  for (const char* standard :
       {"/usr/local/lib", "/usr/local/lib64", "/lib/x86_64-linux-gnu", "/usr/lib/x86_64-linux-gnu",
        "/lib/aarch64-linux-gnu", "/usr/lib/aarch64-linux-gnu", "/lib64", "/usr/lib64", "/lib",
        "/usr/lib"}) {
    dirs.push_back(standard);
  }
  return dirs;
}

ClientEvidence DetectClientFamilyDeep(const std::string& program,
                                      const std::vector<std::string>& library_dirs,
                                      const std::string& path_variable) {
  constexpr size_t kMaxFileBytes = 64 << 20;
  constexpr int kMaxFilesRead = 48;
  std::string start = program;
  std::string via;  // "a script run by python3: "
  std::optional<std::string> head = ReadSmall(program, 256);
  if (!head.has_value()) return {std::nullopt, "cannot read " + program};
  if (std::optional<std::string> interpreter = Interpreter(*head, path_variable)) {
    start = *interpreter;
    via = absl::StrCat("a script for ", *interpreter, ", which ");
  }
  struct Item {
    std::string path;
    std::string name;  // how it was reached
  };
  std::vector<Item> level = {{start, Basename(start)}};
  std::vector<std::string> seen;
  int files_read = 0;
  for (int depth = 0; depth < 4 && !level.empty(); ++depth) {
    std::vector<Item> next;
    for (const Item& item : level) {
      if (files_read++ >= kMaxFilesRead) break;
      std::optional<std::string> bytes = ReadSmall(item.path, kMaxFileBytes);
      if (!bytes.has_value() || !LooksLikeElf(*bytes)) continue;
      absl::StatusOr<ElfInfo> elf = ParseElf(*bytes);
      if (!elf.ok()) continue;
      if (std::optional<ClientFamily> family = ClientFamilyOfLibraries(elf->needed)) {
        std::string library;
        for (const std::string& soname : elf->needed) {
          if (ClientFamilyOfLibraries({soname}).has_value()) {
            library = soname;
            break;
          }
        }
        return {family,
                absl::StrCat(
                    via, depth == 0 && via.empty() ? "links " : absl::StrCat(item.name, " links "),
                    library)};
      }
      for (const std::string& soname : elf->needed) {
        if (IsSystemLibrary(soname) || absl::c_linear_search(seen, soname)) continue;
        seen.push_back(soname);
        if (std::optional<std::string> found = FindIn(library_dirs, soname)) {
          next.push_back({*found, soname});
        }
      }
    }
    level = std::move(next);
  }
  return {std::nullopt, absl::StrCat(via, via.empty() ? "" : "itself ",
                                     "links no PMI or MPI library that could be found")};
}

}  // namespace pmi_shim::image
