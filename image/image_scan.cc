#include "image/image_scan.h"

#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <set>
#include <sstream>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "common/status_macros.h"
#include "common/unique_fd.h"
#include "image/version_number.h"

namespace pmi_shim::image {
namespace {

// Directories under the root where libraries live; everything below them is
// walked (with the limits below).
constexpr const char* kLibraryDirs[] = {"/lib",       "/lib64",     "/lib32",     "/usr/lib",
                                        "/usr/lib64", "/usr/lib32", "/usr/local", "/opt"};
constexpr int kMaxDepth = 10;
constexpr size_t kMaxEntries = 500000;         // directory entries visited
constexpr off_t kMaxLibraryBytes = 1ll << 30;  // a library larger than 1 GiB is skipped
constexpr int kMaxSymlinkHops = 40;

// Directories that never hold libraries and can be large.
bool SkipDirectory(absl::string_view image_path) {
  return image_path == "/usr/local/share" || image_path == "/usr/local/include" ||
         image_path == "/usr/lib/python3" || absl::StartsWith(image_path, "/usr/lib/jvm") ||
         absl::StartsWith(image_path, "/usr/lib/node_modules") ||
         absl::EndsWith(image_path, "/site-packages") ||
         absl::EndsWith(image_path, "/dist-packages") || absl::EndsWith(image_path, "/__pycache__");
}

std::string JoinImagePath(absl::string_view dir, absl::string_view name) {
  return dir == "/" ? absl::StrCat("/", name) : absl::StrCat(dir, "/", name);
}

absl::StatusOr<std::string> ReadFile(const std::string& path, off_t limit) {
  UniqueFd fd(open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK));
  if (!fd.valid()) return absl::NotFoundError(absl::StrCat("cannot open ", path));
  struct stat st;
  if (fstat(fd.get(), &st) != 0 || !S_ISREG(st.st_mode) || st.st_size > limit) {
    return absl::FailedPreconditionError(
        absl::StrCat(path, " is not a regular file of a sane size"));
  }
  std::string bytes(static_cast<size_t>(st.st_size), '\0');
  size_t done = 0;
  while (done < bytes.size()) {
    ssize_t n = read(fd.get(), bytes.data() + done, bytes.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    done += static_cast<size_t>(n);
  }
  bytes.resize(done);
  return bytes;
}

struct Walker {
  std::string root;
  size_t entries = 0;
  absl::flat_hash_set<std::string> seen_files;  // resolved host paths
  std::vector<LibraryInfo> libraries;
  std::vector<std::string> notes;

  void Examine(const std::string& image_path, const std::string& basename) {
    absl::StatusOr<std::string> host_path = ResolveInRoot(root, image_path);
    if (!host_path.ok()) {
      notes.push_back(absl::StrCat(image_path, ": ", host_path.status().message()));
      return;
    }
    if (!seen_files.insert(*host_path).second) return;
    absl::StatusOr<std::string> bytes = ReadFile(*host_path, kMaxLibraryBytes);
    if (!bytes.ok()) return;
    std::optional<LibraryInfo> info = ClassifyLibrary(image_path, *bytes);
    if (!info.has_value()) return;
    // Report the path under its real name inside the image.
    if (*host_path != JoinImagePath(root, image_path.substr(1))) {
      std::string real = host_path->substr(root.size());
      if (real.empty() || real[0] != '/') real = absl::StrCat("/", real);
      info->evidence.push_back(absl::StrCat("found as ", image_path));
      info->path = real;
    }
    libraries.push_back(*std::move(info));
  }

  void Walk(const std::string& image_dir, int depth) {
    if (depth > kMaxDepth || entries > kMaxEntries || SkipDirectory(image_dir)) return;
    const std::string host_dir = root + image_dir;
    DIR* dir = opendir(host_dir.c_str());
    if (dir == nullptr) return;
    std::vector<std::pair<std::string, unsigned char>> children;
    while (struct dirent* entry = readdir(dir)) {
      if (++entries > kMaxEntries) break;
      std::string name = entry->d_name;
      if (name == "." || name == "..") continue;
      children.emplace_back(std::move(name), entry->d_type);
    }
    closedir(dir);
    std::sort(children.begin(), children.end());
    for (const auto& [name, type] : children) {
      const std::string image_path = JoinImagePath(image_dir, name);
      struct stat st;
      if (lstat((root + image_path).c_str(), &st) != 0) continue;
      if (S_ISDIR(st.st_mode)) {
        Walk(image_path, depth + 1);
      } else if ((S_ISREG(st.st_mode) || S_ISLNK(st.st_mode)) && IsCandidateLibraryName(name)) {
        // A symlinked directory is never entered; a symlinked file is
        // resolved inside the root.
        Examine(image_path, name);
      }
    }
  }
};

absl::StatusOr<std::string> RootfsOfBundle(const std::string& bundle) {
  std::ifstream in(bundle + "/config.json");
  std::stringstream text;
  text << in.rdbuf();
  nlohmann::json config = nlohmann::json::parse(text.str(), nullptr, /*allow_exceptions=*/false);
  if (config.is_discarded() || !config.is_object()) {
    return absl::InvalidArgumentError(
        absl::StrCat(bundle, "/config.json is not valid JSON; give --rootfs DIR instead"));
  }
  auto root = config.find("root");
  if (root == config.end() || !root->is_object() || !root->contains("path") ||
      !(*root)["path"].is_string()) {
    return absl::InvalidArgumentError(
        absl::StrCat(bundle, "/config.json has no root.path; give --rootfs DIR instead"));
  }
  std::string path = (*root)["path"].get<std::string>();
  return path.empty() || path[0] != '/' ? absl::StrCat(bundle, "/", path) : path;
}

std::string Lexical(const std::vector<std::string>& parts) {
  return parts.empty() ? "/" : absl::StrCat("/", absl::StrJoin(parts, "/"));
}

void AddUnique(std::vector<std::string>& list, const std::string& item) {
  if (std::find(list.begin(), list.end(), item) == list.end()) list.push_back(item);
}

}  // namespace

absl::StatusOr<std::string> ResolveInRoot(const std::string& root, const std::string& path) {
  std::vector<std::string> pending = absl::StrSplit(path, '/', absl::SkipEmpty());
  std::reverse(pending.begin(), pending.end());
  std::vector<std::string> resolved;
  int hops = 0;
  while (!pending.empty()) {
    std::string part = std::move(pending.back());
    pending.pop_back();
    if (part == ".") continue;
    if (part == "..") {
      if (!resolved.empty()) resolved.pop_back();
      continue;
    }
    resolved.push_back(part);
    const std::string host = root + Lexical(resolved);
    struct stat st;
    if (lstat(host.c_str(), &st) != 0) {
      return absl::NotFoundError(absl::StrCat(Lexical(resolved), " does not exist in the image"));
    }
    if (!S_ISLNK(st.st_mode)) continue;
    if (++hops > kMaxSymlinkHops) {
      return absl::FailedPreconditionError(
          absl::StrCat("too many symlinks at ", Lexical(resolved)));
    }
    char target[PATH_MAX];
    ssize_t n = readlink(host.c_str(), target, sizeof(target) - 1);
    if (n < 0) return absl::NotFoundError(absl::StrCat("cannot read link ", Lexical(resolved)));
    target[n] = '\0';
    resolved.pop_back();
    if (target[0] == '/') resolved.clear();  // absolute: relative to the image root
    std::vector<std::string> parts = absl::StrSplit(target, '/', absl::SkipEmpty());
    for (auto it = parts.rbegin(); it != parts.rend(); ++it) pending.push_back(*it);
  }
  return root + Lexical(resolved);
}

bool ImageReport::HasComponent(const std::string& component) const {
  return std::find(pmix_components.begin(), pmix_components.end(), component) !=
         pmix_components.end();
}

bool ImageReport::Speaks(const std::string& protocol) const {
  return std::find(client_protocols.begin(), client_protocols.end(), protocol) !=
         client_protocols.end();
}

namespace {

// What the libraries of an image add up to, before protocols are derived.
struct LibraryFacts {
  std::set<std::string> components;  // PMIx MCA components, "gds/ds21", ...
  const LibraryInfo* mpi = nullptr;  // the MPI library the image is judged by
  std::string embedded_pmix;         // version of a PMIx inside Open MPI
  bool has_libpmix = false, has_slurm_pmi2 = false, has_compat = false;
  bool ompi_s1 = false, ompi_s2 = false;  // Open MPI's Slurm PMI-1/PMI-2 components
  bool any_pmix() const { return has_libpmix || !embedded_pmix.empty(); }
};

using ProtocolSet = std::set<std::string>;

// Open MPI 3-5 talk to their launcher through PMIx only; the s1/s2
// components reach Slurm through Slurm's own libpmi/libpmi2.
void OpenMpiProtocols(const LibraryFacts& facts, ProtocolSet& protocols, ImageReport& report) {
  protocols.insert(kProtoPmix);
  report.default_protocol = kProtoPmix;
  if (facts.ompi_s1) protocols.insert(kProtoPmi1);
  if (facts.ompi_s2) protocols.insert(kProtoPmi2);
  if (!facts.any_pmix())
    report.notes.push_back("Open MPI without a PMIx library: MPI_Init will fail");
}

// protocols.md §1.1: PMI-1 wire in every MPICH. The refactored client of
// MPICH >= 4.1 also speaks PMI-2 and, when built with libpmix, PMIx
// (MPIR_CVAR_PMI_VERSION); MPICH <= 4.0 speaks what it was configured with.
void MpichProtocols(const LibraryFacts& facts, ProtocolSet& protocols, ImageReport& report) {
  const LibraryInfo& mpi = *facts.mpi;
  const bool needs_libpmix =
      std::any_of(mpi.needed.begin(), mpi.needed.end(),
                  [](const std::string& n) { return absl::StartsWith(n, "libpmix."); });
  const bool refactored = VersionAtLeast(mpi.version, 4, 1);
  protocols.insert(kProtoPmi1);
  report.default_protocol = kProtoPmi1;
  if (refactored || absl::StrContains(mpi.configure, "--with-pmi=pmi2") ||
      absl::StrContains(mpi.configure, "--with-pmi=simple2")) {
    protocols.insert(kProtoPmi2);
  }
  if (needs_libpmix || absl::StrContains(mpi.configure, "--with-pmix") ||
      absl::StrContains(mpi.configure, "--with-pmi=pmix")) {
    protocols.insert(kProtoPmix);
    if (!refactored) report.default_protocol = kProtoPmix;
  }
  if (!refactored && !protocols.count(kProtoPmi2)) {
    report.notes.push_back("MPICH before 4.1 built without --with-pmi=pmi2: PMI-1 wire only");
  }
}

void MvapichProtocols(const LibraryFacts&, ProtocolSet& protocols, ImageReport& report) {
  protocols.insert(kProtoPmi1);
  protocols.insert(kProtoPmi2);
  report.default_protocol = kProtoPmi1;
}

// Intel MPI carries its own PMI-1 client (default) and PMI-2 (I_MPI_PMI=pmi2);
// PMIx only through I_MPI_PMI_LIBRARY=<libpmix>.
void IntelMpiProtocols(const LibraryFacts& facts, ProtocolSet& protocols, ImageReport& report) {
  protocols.insert(kProtoPmi1);
  protocols.insert(kProtoPmi2);
  report.default_protocol = kProtoPmi1;
  if (facts.any_pmix()) {
    protocols.insert(kProtoPmix);
    report.notes.push_back(
        "Intel MPI can use the image's libpmix with I_MPI_PMI=pmix I_MPI_PMI_LIBRARY=<path>");
  }
}

// The MPI families, by precedence when an image holds several (the higher
// rank judges the image), with what each one's client speaks.
struct MpiFamily {
  const char* family;
  int rank;
  void (*protocols)(const LibraryFacts&, ProtocolSet&, ImageReport&);
};
constexpr MpiFamily kMpiFamilies[] = {
    {kFamilyOpenMpi, 4, OpenMpiProtocols},
    {kFamilyIntelMpi, 3, IntelMpiProtocols},
    {kFamilyMvapich, 2, MvapichProtocols},
    {kFamilyMpich, 1, MpichProtocols},
};

const MpiFamily* FindMpiFamily(const std::string& family) {
  for (const MpiFamily& entry : kMpiFamilies) {
    if (family == entry.family) return &entry;
  }
  return nullptr;
}

// Sums up the libraries; sets the image's PMIx version (the newest libpmix)
// and notes several MPI families.
LibraryFacts CollectLibraryFacts(ImageReport& report) {
  LibraryFacts facts;
  for (const LibraryInfo& lib : report.libraries) {
    if (lib.family == kFamilyPmix) {
      facts.has_libpmix = true;
      if (!lib.version.empty() && (report.pmix_version.empty() ||
                                   ParseVersion(report.pmix_version) < ParseVersion(lib.version))) {
        report.pmix_version = lib.version;
      }
      facts.components.insert(lib.components.begin(), lib.components.end());
    } else if (lib.family == kFamilyPmixPlugin) {
      facts.components.insert(lib.component);
    } else if (lib.family == kFamilyOpenMpiPmixComponent) {
      if (lib.component == "pmix/s1") facts.ompi_s1 = true;
      if (lib.component == "pmix/s2") facts.ompi_s2 = true;
      if (!lib.version.empty()) facts.embedded_pmix = lib.version;
      facts.components.insert(lib.components.begin(), lib.components.end());
    } else if (lib.family == kFamilySlurmPmi2) {
      facts.has_slurm_pmi2 = true;
    } else if (lib.family == kFamilyPmixPmiCompat) {
      facts.has_compat = true;
    } else if (const MpiFamily* family = FindMpiFamily(lib.family)) {
      const LibraryInfo* judged = facts.mpi;
      if (judged == nullptr || family->rank > FindMpiFamily(judged->family)->rank) {
        if (judged != nullptr && judged->family != lib.family) {
          report.notes.push_back(absl::StrCat("several MPI families: ", judged->family, " and ",
                                              lib.family, "; judging by ", lib.family));
        }
        facts.mpi = &lib;
      }
    }
  }
  return facts;
}

// Protocols that libraries outside the MPI library bring: Slurm's libpmi2,
// libpmix itself and OpenPMIx's PMI-1/PMI-2 compat libraries.
void AddLibraryProtocols(const LibraryFacts& facts, ProtocolSet& protocols, ImageReport& report) {
  if (facts.has_slurm_pmi2) {
    protocols.insert(kProtoPmi2);
    if (report.default_protocol.empty()) report.default_protocol = kProtoPmi2;
  }
  if (facts.any_pmix() || facts.has_compat) {
    if (facts.mpi == nullptr || facts.mpi->family == kFamilyOpenMpi) protocols.insert(kProtoPmix);
    if (report.default_protocol.empty()) report.default_protocol = kProtoPmix;
    if (facts.has_compat)
      report.notes.push_back("OpenPMIx PMI-1/PMI-2 compat libraries: PMI calls go out as PMIx");
  }
}

}  // namespace

void DeriveImageFacts(ImageReport& report) {
  const LibraryFacts facts = CollectLibraryFacts(report);
  if (report.pmix_version.empty() && !facts.embedded_pmix.empty()) {
    report.pmix_version = facts.embedded_pmix;
    report.notes.push_back("PMIx is embedded in Open MPI's pmix component (no separate libpmix)");
  }
  report.pmix_components.assign(facts.components.begin(), facts.components.end());
  ProtocolSet protocols;
  if (facts.mpi != nullptr) {
    report.mpi_family = facts.mpi->family;
    report.mpi_version = facts.mpi->version;
    FindMpiFamily(facts.mpi->family)->protocols(facts, protocols, report);
  }
  AddLibraryProtocols(facts, protocols, report);
  for (const char* p : {kProtoPmi1, kProtoPmi2, kProtoPmix}) {
    if (protocols.count(p)) AddUnique(report.client_protocols, p);
  }
  if (report.libraries.empty()) report.notes.push_back("no PMI or MPI library found in the image");
}

absl::StatusOr<ImageReport> ScanImage(const std::string& given_root) {
  std::string root = given_root;
  while (root.size() > 1 && root.back() == '/') root.pop_back();
  struct stat st;
  if (stat(root.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
    return absl::NotFoundError(
        absl::StrCat(given_root, " is not a directory; give the image's rootfs or bundle"));
  }
  if (access((root + "/config.json").c_str(), F_OK) == 0 &&
      stat((root + "/usr").c_str(), &st) != 0) {
    ASSIGN_OR_RETURN(root, RootfsOfBundle(root));
    while (root.size() > 1 && root.back() == '/') root.pop_back();
    if (stat(root.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
      return absl::NotFoundError(absl::StrCat("the bundle's rootfs ", root, " is not a directory"));
    }
  }
  char real[PATH_MAX];
  if (realpath(root.c_str(), real) == nullptr) {
    return absl::NotFoundError(absl::StrCat("cannot resolve ", root));
  }
  Walker walker;
  walker.root = std::string(real) == "/" ? "" : real;
  for (const char* dir : kLibraryDirs) {
    // A top-level directory that is itself a symlink (merged /usr: /lib ->
    // usr/lib) is the same tree; it is walked once through its target.
    struct stat top;
    if (lstat((walker.root + dir).c_str(), &top) != 0 || !S_ISDIR(top.st_mode)) continue;
    walker.Walk(dir, 0);
  }
  ImageReport report;
  report.root = real;
  report.libraries = std::move(walker.libraries);
  report.notes = std::move(walker.notes);
  std::sort(report.libraries.begin(), report.libraries.end(),
            [](const LibraryInfo& a, const LibraryInfo& b) { return a.path < b.path; });
  DeriveImageFacts(report);
  return report;
}

std::string FormatImageReport(const ImageReport& report) {
  std::string out = absl::StrCat("Image ", report.root, "\n");
  if (report.libraries.empty()) {
    absl::StrAppend(&out, "  (no PMI/MPI libraries)\n");
  } else {
    size_t width = 4;
    for (const LibraryInfo& lib : report.libraries) width = std::max(width, lib.path.size());
    absl::StrAppend(&out, "  ", "PATH", std::string(width - 4, ' '),
                    "  FAMILY                  VERSION     SONAME / COMPONENT\n");
    for (const LibraryInfo& lib : report.libraries) {
      std::string family = lib.family;
      family.resize(std::max<size_t>(family.size(), 22), ' ');
      std::string version = lib.version.empty() ? "?" : lib.version;
      version.resize(std::max<size_t>(version.size(), 10), ' ');
      absl::StrAppend(&out, "  ", lib.path, std::string(width - lib.path.size(), ' '), "  ", family,
                      "  ", version, "  ", lib.component.empty() ? lib.soname : lib.component,
                      "\n");
    }
  }
  auto or_none = [](const std::string& s) { return s.empty() ? std::string("none") : s; };
  absl::StrAppend(
      &out, "  MPI: ",
      report.mpi_family.empty() ? "none"
                                : absl::StrCat(report.mpi_family, " ", or_none(report.mpi_version)),
      "\n  client protocols: ",
      report.client_protocols.empty() ? "none" : absl::StrJoin(report.client_protocols, ", "),
      report.default_protocol.empty() ? ""
                                      : absl::StrCat(" (default ", report.default_protocol, ")"),
      "\n  PMIx client: ", or_none(report.pmix_version),
      report.pmix_components.empty()
          ? ""
          : absl::StrCat(" [", absl::StrJoin(report.pmix_components, " "), "]"),
      "\n");
  for (const std::string& note : report.notes) absl::StrAppend(&out, "  note: ", note, "\n");
  return out;
}

nlohmann::json ImageReportToJson(const ImageReport& report) {
  nlohmann::json libraries = nlohmann::json::array();
  for (const LibraryInfo& lib : report.libraries) {
    libraries.push_back({{"path", lib.path},
                         {"soname", lib.soname},
                         {"family", lib.family},
                         {"version", lib.version},
                         {"component", lib.component},
                         {"components", lib.components},
                         {"needed", lib.needed},
                         {"evidence", lib.evidence}});
  }
  return {{"root", report.root},
          {"libraries", libraries},
          {"mpi_family", report.mpi_family},
          {"mpi_version", report.mpi_version},
          {"default_protocol", report.default_protocol},
          {"client_protocols", report.client_protocols},
          {"pmix_version", report.pmix_version},
          {"pmix_components", report.pmix_components},
          {"notes", report.notes}};
}

}  // namespace pmi_shim::image
