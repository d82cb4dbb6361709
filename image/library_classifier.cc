#include "image/library_classifier.h"

#include <algorithm>
#include <cctype>
#include <set>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "image/elf_reader.h"

namespace pmi_shim::image {
namespace {

bool IsVersionChar(char c) {
  return absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '.';
}

// A version token "4.2.2rc2" at the start of `text`: starts with a digit,
// holds a '.', at most 32 characters.
std::string VersionToken(absl::string_view text) {
  size_t end = 0;
  while (end < text.size() && end < 32 && IsVersionChar(text[end])) ++end;
  absl::string_view token = absl::StripSuffix(text.substr(0, end), ".");
  if (token.empty() || !absl::ascii_isdigit(static_cast<unsigned char>(token[0])) ||
      !absl::StrContains(token, '.')) {
    return "";
  }
  return std::string(token);
}

// The first version token right after any occurrence of `prefix`.
std::string VersionAfter(absl::string_view bytes, absl::string_view prefix) {
  for (size_t at = bytes.find(prefix); at != absl::string_view::npos;
       at = bytes.find(prefix, at + 1)) {
    std::string version = VersionToken(bytes.substr(at + prefix.size()));
    if (!version.empty()) return version;
  }
  return "";
}

// A NUL-delimited string that is exactly "v<version>" (Open MPI's
// ompi_version string "v4.1.4").
std::string BareVString(absl::string_view bytes) {
  static constexpr absl::string_view kStart("\0v", 2);
  for (size_t at = bytes.find(kStart); at != absl::string_view::npos;
       at = bytes.find(kStart, at + 1)) {
    std::string version = VersionToken(bytes.substr(at + 2));
    if (version.empty()) continue;
    size_t end = at + 2 + version.size();
    if (end < bytes.size() && bytes[end] == '\0' &&
        std::count(version.begin(), version.end(), '.') == 2) {
      return version;
    }
  }
  return "";
}

// "libpmix.so.2.6.2" -> "libpmix"; "libmpi.so.12" -> "libmpi".
absl::string_view Stem(absl::string_view basename) {
  size_t so = basename.find(".so");
  return so == absl::string_view::npos ? basename : basename.substr(0, so);
}

absl::string_view Basename(absl::string_view path) {
  size_t slash = path.rfind('/');
  return slash == absl::string_view::npos ? path : path.substr(slash + 1);
}

std::string Quoted(absl::string_view text) { return absl::StrCat("string \"", text, "\""); }

// PMIx components compiled into a library: dynamic symbols named
// [pmix_]mca_<framework>_<name>_component for the frameworks that matter
// across a container boundary.
std::vector<std::string> BuiltInComponents(const ElfInfo& elf) {
  std::set<std::string> found;
  for (const auto& [symbol, value] : elf.symbols) {
    absl::string_view name = symbol;
    absl::ConsumePrefix(&name, "pmix_");
    if (!absl::ConsumePrefix(&name, "mca_") || !absl::ConsumeSuffix(&name, "_component")) continue;
    for (absl::string_view framework : {"psec", "gds", "bfrops", "ptl"}) {
      absl::string_view rest = name;
      if (absl::ConsumePrefix(&rest, framework) && absl::ConsumePrefix(&rest, "_") &&
          !rest.empty() && !absl::StrContains(rest, '_')) {
        found.insert(absl::StrCat(framework, "/", rest));
      }
    }
  }
  return {found.begin(), found.end()};
}

// "mca_psec_munge.so" / "pmix_mca_gds_ds21.so" -> "psec/munge"; "" otherwise.
std::string PluginComponent(absl::string_view basename) {
  absl::string_view name = basename;
  absl::ConsumePrefix(&name, "pmix_");
  if (!absl::ConsumePrefix(&name, "mca_") || !absl::ConsumeSuffix(&name, ".so")) return "";
  for (absl::string_view framework : {"psec", "gds", "bfrops", "ptl"}) {
    absl::string_view rest = name;
    if (absl::ConsumePrefix(&rest, framework) && absl::ConsumePrefix(&rest, "_") && !rest.empty()) {
      return absl::StrCat(framework, "/", rest);
    }
  }
  return "";
}

void ClassifyMpichLike(const ElfInfo& elf, absl::string_view bytes, LibraryInfo& info) {
  if (absl::StrContains(bytes, "Intel(R) MPI Library")) {
    info.family = kFamilyIntelMpi;
    info.version = VersionAfter(bytes, "Intel(R) MPI Library ");
    info.evidence.push_back(Quoted("Intel(R) MPI Library"));
    return;
  }
  const bool mvapich = absl::StrContains(bytes, "MVAPICH2") || absl::StrContains(bytes, "MVAPICH");
  info.family = mvapich ? kFamilyMvapich : kFamilyMpich;
  for (absl::string_view symbol : {"MPII_Version_string", "MPIR_Version_string"}) {
    if (std::optional<std::string> text = ReadSymbolString(bytes, elf, symbol, 64)) {
      if (!VersionToken(*text).empty()) {
        info.version = VersionToken(*text);
        info.evidence.push_back(absl::StrCat("symbol ", symbol, " = \"", *text, "\""));
        break;
      }
    }
  }
  if (info.version.empty()) {
    info.version =
        mvapich ? VersionAfter(bytes, "MVAPICH2 ") : VersionAfter(bytes, "MPICH Version:\t");
  }
  info.evidence.push_back(Quoted(mvapich ? "MVAPICH2" : "MPICH Version:"));
  for (absl::string_view symbol : {"MPII_Version_configure", "MPIR_Version_configure"}) {
    if (std::optional<std::string> text = ReadSymbolString(bytes, elf, symbol, 8192)) {
      info.configure = *text;
      break;
    }
  }
}

// A v1.x libpmix's own version: the string "1.M.P[suffix]" among its
// read-only data (PMIx_Get_version returns it), else "1".
std::string FindV1VersionString(absl::string_view bytes) {
  const absl::string_view start(
      "\0"
      "1.",
      3);
  for (size_t at = bytes.find(start); at != absl::string_view::npos;
       at = bytes.find(start, at + 1)) {
    absl::string_view rest = bytes.substr(at + 1);
    const size_t end = rest.find('\0');
    if (end == absl::string_view::npos || end > 16) continue;
    absl::string_view text = rest.substr(0, end);
    int dots = 0;
    bool ok = true;
    for (size_t i = 0; i < text.size() && ok; ++i) {
      const char c = text[i];
      if (c == '.') {
        ++dots;
      } else if (!absl::ascii_isdigit(static_cast<unsigned char>(c))) {
        ok = dots == 2 && absl::ascii_isalpha(static_cast<unsigned char>(c));  // "rc3"
        break;
      }
    }
    if (ok && dots == 2) return std::string(text);
  }
  return "1";
}

}  // namespace

std::string FindPmixVersion(absl::string_view bytes) {
  for (absl::string_view prefix : {"OpenPMIx ", "PMIx v", "PMIx "}) {
    std::string version = VersionAfter(bytes, prefix);
    if (!version.empty()) return version;
  }
  return VersionAfter(bytes, "MCA component version ");
}

bool IsCandidateLibraryName(absl::string_view basename) {
  absl::string_view stem = Stem(basename);
  if (!absl::StrContains(basename, ".so")) return false;
  if (stem == "libpmix" || stem == "libmpich" || stem == "libmpi" || stem == "libpmi" ||
      stem == "libpmi2" || stem == "libmpi_ilp64" || stem == "libmpi_mt") {
    return true;
  }
  if (!PluginComponent(basename).empty()) return true;
  return absl::StartsWith(basename, "mca_pmix_") && absl::EndsWith(basename, ".so");
}

namespace {

// One library file as the classifiers see it.
struct LibraryFile {
  absl::string_view basename;
  absl::string_view stem;  // of the soname, else of the file name
  absl::string_view bytes;
  const ElfInfo& elf;
};

// Each classifier fills `info` and says whether the file is what it knows.
using Classifier = bool (*)(const LibraryFile& file, LibraryInfo& info);

bool ClassifyPmixPlugin(const LibraryFile& file, LibraryInfo& info) {
  std::string component = PluginComponent(file.basename);
  if (component.empty()) return false;
  info.family = kFamilyPmixPlugin;
  info.component = component;
  info.version = FindPmixVersion(file.bytes);
  info.evidence.push_back(absl::StrCat("plugin file ", file.basename));
  return true;
}

bool ClassifyOpenMpiPmixComponent(const LibraryFile& file, LibraryInfo& info) {
  absl::string_view name = file.basename;
  if (!absl::ConsumePrefix(&name, "mca_pmix_")) return false;
  absl::ConsumeSuffix(&name, ".so");
  info.family = kFamilyOpenMpiPmixComponent;
  info.component = absl::StrCat("pmix/", name);
  info.evidence.push_back(absl::StrCat("Open MPI component ", file.basename));
  // pmix2x/pmix3x carry a private PMIx; ext*x link the image's libpmix.
  if (absl::StartsWith(name, "pmix")) {
    info.version = FindPmixVersion(file.bytes);
    info.components = BuiltInComponents(file.elf);
  }
  return true;
}

bool ClassifyLibpmix(const LibraryFile& file, LibraryInfo& info) {
  info.family = kFamilyPmix;
  // v1.x prints no "PMIx" before its version (a search for one finds
  // unrelated text); its API tells it apart: v2 replaced the error
  // handlers by event handlers.
  if (file.elf.HasSymbol("PMIx_Register_errhandler") &&
      !file.elf.HasSymbol("PMIx_Register_event_handler")) {
    info.version = FindV1VersionString(file.bytes);
    info.evidence.push_back("PMIx v1 API (PMIx_Register_errhandler, no event handlers)");
  } else {
    info.version = FindPmixVersion(file.bytes);
    if (!info.version.empty())
      info.evidence.push_back(absl::StrCat("PMIx version string ", info.version));
  }
  info.components = BuiltInComponents(file.elf);
  return true;
}

// Slurm's libpmi/libpmi2, or OpenPMIx's compat libraries of the same names.
bool ClassifyPmiLibrary(const LibraryFile& file, LibraryInfo& info) {
  if (absl::StrContains(file.bytes, "PMIx_Init") || absl::StrContains(file.bytes, "OpenPMIx") ||
      std::any_of(info.needed.begin(), info.needed.end(),
                  [](const std::string& n) { return absl::StartsWith(n, "libpmix."); })) {
    info.family = kFamilyPmixPmiCompat;
    info.version = FindPmixVersion(file.bytes);
    info.evidence.push_back("calls PMIx_Init (OpenPMIx compat library)");
    return true;
  }
  const bool pmi2 = file.stem == "libpmi2";
  info.family = pmi2 ? kFamilySlurmPmi2 : kFamilySlurmPmi;
  if (file.elf.HasSymbol(pmi2 ? "PMI2_Init" : "PMI_Init")) {
    info.evidence.push_back(pmi2 ? "defines PMI2_Init" : "defines PMI_Init");
  }
  return true;
}

// libmpi* is Open MPI's or an MPICH derivative's (MPICH, Intel MPI, MVAPICH).
bool ClassifyMpiLibrary(const LibraryFile& file, LibraryInfo& info) {
  const absl::string_view bytes = file.bytes;
  const bool open_mpi = absl::StrContains(bytes, "Open MPI") ||
                        file.elf.HasSymbol("ompi_mpi_init") ||
                        absl::StartsWith(info.soname, "libmpi.so.4");
  if (open_mpi && !absl::StrContains(bytes, "Intel(R) MPI Library")) {
    info.family = kFamilyOpenMpi;
    info.version = VersionAfter(bytes, "Open MPI v");
    if (info.version.empty()) info.version = BareVString(bytes);
    info.evidence.push_back(Quoted("Open MPI"));
    return true;
  }
  if (absl::StrContains(bytes, "MPICH") || absl::StrContains(bytes, "Intel(R) MPI Library") ||
      file.elf.HasSymbol("MPII_Version_string") || file.elf.HasSymbol("MPIR_Version_string")) {
    ClassifyMpichLike(file.elf, bytes, info);
    return true;
  }
  return false;
}

// Libraries known by their stem, after the file-name rules above.
struct StemRule {
  const char* stem;
  Classifier classify;
};
constexpr StemRule kStemRules[] = {
    {"libpmix", ClassifyLibpmix},         {"libpmi2", ClassifyPmiLibrary},
    {"libpmi", ClassifyPmiLibrary},       {"libmpich", ClassifyMpiLibrary},
    {"libmpi", ClassifyMpiLibrary},       {"libmpi_mt", ClassifyMpiLibrary},
    {"libmpi_ilp64", ClassifyMpiLibrary},
};

}  // namespace

std::optional<LibraryInfo> ClassifyLibrary(absl::string_view path, absl::string_view bytes) {
  if (!LooksLikeElf(bytes)) return std::nullopt;
  absl::StatusOr<ElfInfo> elf = ParseElf(bytes);
  if (!elf.ok()) return std::nullopt;
  const absl::string_view basename = Basename(path);
  LibraryInfo info;
  info.path = std::string(path);
  info.soname = elf->soname;
  info.needed = elf->needed;
  if (!info.soname.empty()) info.evidence.push_back(absl::StrCat("DT_SONAME ", info.soname));
  // The soname decides when there is one (a renamed file keeps it).
  const absl::string_view stem =
      Stem(info.soname.empty() ? basename : absl::string_view(info.soname));
  const LibraryFile file{basename, stem, bytes, *elf};
  if (ClassifyPmixPlugin(file, info) || ClassifyOpenMpiPmixComponent(file, info)) return info;
  for (const StemRule& rule : kStemRules) {
    if (stem != rule.stem) continue;
    if (rule.classify(file, info)) return info;
    return std::nullopt;
  }
  return std::nullopt;
}

}  // namespace pmi_shim::image
