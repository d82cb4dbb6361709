// Builds test rootfs directories from host files; see rootfs.h.
#include "test/testing/rootfs.h"

#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <system_error>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "common/status_macros.h"
#include "test/testing/subprocess.h"

namespace pmi_shim::testutil {
namespace {

namespace fs = std::filesystem;

constexpr char kBusybox[] = "/bin/busybox";

absl::Status FsError(const std::string& what, const std::error_code& ec) {
  return absl::InternalError(absl::StrCat(what, ": ", ec.message()));
}

// `inside` is absolute; the result is under `root`.
std::string Under(const std::string& root, const std::string& inside) {
  size_t start = inside.find_first_not_of('/');
  return start == std::string::npos ? root : absl::StrCat(root, "/", inside.substr(start));
}

absl::Status MakeDirs(const std::string& path, fs::perms mode = fs::perms(0755)) {
  std::error_code ec;
  fs::create_directories(path, ec);
  if (ec) return FsError(absl::StrCat("mkdir -p ", path), ec);
  fs::permissions(path, mode, ec);
  if (ec) return FsError(absl::StrCat("chmod ", path), ec);
  return absl::OkStatus();
}

absl::Status WriteFile(const std::string& path, const std::string& contents, mode_t mode) {
  RETURN_IF_ERROR(MakeDirs(fs::path(path).parent_path().string()));
  {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out << contents;
    if (!out) return absl::InternalError(absl::StrCat("cannot write ", path));
  }
  if (chmod(path.c_str(), mode) != 0) {
    return absl::ErrnoToStatus(errno, absl::StrCat("chmod ", path));
  }
  return absl::OkStatus();
}

// Copies the contents (links followed) of `host` to `dest`, keeping the mode.
absl::Status CopyFile(const std::string& host, const std::string& dest) {
  RETURN_IF_ERROR(MakeDirs(fs::path(dest).parent_path().string()));
  std::error_code ec;
  fs::copy_file(host, dest, fs::copy_options::overwrite_existing, ec);
  if (ec) return FsError(absl::StrCat("copy ", host, " to ", dest), ec);
  return absl::OkStatus();
}

bool IsElf(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  char magic[4] = {};
  in.read(magic, sizeof magic);
  return in && magic[0] == 0x7f && magic[1] == 'E' && magic[2] == 'L' && magic[3] == 'F';
}

// Every applet of the host's busybox-static.
absl::StatusOr<std::vector<std::string>> BusyboxApplets() {
  ASSIGN_OR_RETURN(RunResult r, RunSubprocess({kBusybox, "--list"}, {}, absl::Seconds(10)));
  if (r.exit_code != 0) {
    return absl::FailedPreconditionError(
        absl::StrCat("busybox --list failed (install busybox-static): ", r.Describe()));
  }
  return std::vector<std::string>(absl::StrSplit(r.stdout_text, '\n', absl::SkipWhitespace()));
}

constexpr char kPasswd[] =
    "root:x:0:0:root:/root:/bin/sh\n"
    "nobody:x:65534:65534:nobody:/nonexistent:/bin/false\n";
constexpr char kGroup[] =
    "root:x:0:\n"
    "nogroup:x:65534:\n";
constexpr char kHosts[] = "127.0.0.1 localhost\n::1 localhost\n";

}  // namespace

absl::StatusOr<std::vector<std::string>> ParseLddOutput(const std::string& text) {
  std::vector<std::string> paths;
  for (absl::string_view line : absl::StrSplit(text, '\n', absl::SkipWhitespace())) {
    line = absl::StripAsciiWhitespace(line);
    if (absl::StrContains(line, "not a dynamic executable") ||
        absl::StrContains(line, "statically linked")) {
      continue;
    }
    absl::string_view path = line;
    size_t arrow = line.find("=>");
    if (arrow != absl::string_view::npos) {
      absl::string_view name = absl::StripAsciiWhitespace(line.substr(0, arrow));
      path = absl::StripAsciiWhitespace(line.substr(arrow + 2));
      if (absl::StartsWith(path, "not found")) {
        return absl::NotFoundError(absl::StrCat("ldd: library ", name, " not found"));
      }
    }
    size_t paren = path.find(" (");
    if (paren != absl::string_view::npos) path = path.substr(0, paren);
    path = absl::StripAsciiWhitespace(path);
    // The vDSO ("linux-vdso.so.1 (0x...)") has no file; nor has an empty
    // "=> (0x...)" entry some loaders print for it.
    if (!absl::StartsWith(path, "/")) continue;
    paths.emplace_back(path);
  }
  return paths;
}

absl::StatusOr<std::vector<std::string>> SharedLibraryClosure(const std::string& program) {
  ASSIGN_OR_RETURN(RunResult r, RunSubprocess({"ldd", program}, {}, absl::Seconds(20)));
  // ldd exits 1 for a static program ("not a dynamic executable").
  if (r.exit_code != 0 &&
      !absl::StrContains(r.stdout_text + r.stderr_text, "not a dynamic executable")) {
    return absl::InternalError(absl::StrCat("ldd ", program, ": ", r.Describe()));
  }
  return ParseLddOutput(r.stdout_text);
}

absl::Status BuildRootfs(const std::string& dir, const RootfsSpec& spec) {
  std::error_code ec;
  if (fs::exists(dir, ec) && !fs::is_empty(dir, ec)) {
    return absl::AlreadyExistsError(absl::StrCat("rootfs directory ", dir, " is not empty"));
  }
  RETURN_IF_ERROR(MakeDirs(dir));
  for (const char* d : {"usr/bin", "usr/sbin", "usr/lib", "usr/lib64", "etc", "dev", "proc", "sys",
                        "run", "root", "var", "app"}) {
    RETURN_IF_ERROR(MakeDirs(Under(dir, d)));
  }
  RETURN_IF_ERROR(MakeDirs(Under(dir, "tmp"), fs::perms(01777)));
  for (const char* link : {"bin", "sbin", "lib", "lib64"}) {
    fs::create_directory_symlink(absl::StrCat("usr/", link), Under(dir, link), ec);
    if (ec) return FsError(absl::StrCat("symlink ", link), ec);
  }
  RETURN_IF_ERROR(WriteFile(Under(dir, "/etc/passwd"), kPasswd, 0644));
  RETURN_IF_ERROR(WriteFile(Under(dir, "/etc/group"), kGroup, 0644));
  RETURN_IF_ERROR(WriteFile(Under(dir, "/etc/hosts"), kHosts, 0644));

  if (spec.busybox) {
    RETURN_IF_ERROR(CopyFile(kBusybox, Under(dir, kBusybox)));
    std::vector<std::string> applets = spec.applets;
    if (applets.empty()) {
      ASSIGN_OR_RETURN(applets, BusyboxApplets());
    }
    for (const std::string& applet : applets) {
      // `busybox --list` gives bare names; all go to /bin (= /usr/bin).
      std::string link = Under(dir, absl::StrCat("/bin/", applet));
      if (applet == "busybox" || fs::exists(fs::symlink_status(link))) continue;
      fs::create_symlink("busybox", link, ec);
      if (ec) return FsError(absl::StrCat("symlink applet ", applet), ec);
    }
  }

  std::set<std::string> libraries;
  auto add_closure = [&](const std::string& elf) -> absl::Status {
    ASSIGN_OR_RETURN(std::vector<std::string> libs, SharedLibraryClosure(elf));
    libraries.insert(libs.begin(), libs.end());
    return absl::OkStatus();
  };
  for (const HostCopy& program : spec.programs) {
    if (!absl::StartsWith(program.path, "/")) {
      return absl::InvalidArgumentError(
          absl::StrCat("rootfs path ", program.path, " is not absolute"));
    }
    RETURN_IF_ERROR(CopyFile(program.host_path, Under(dir, program.path)));
    RETURN_IF_ERROR(add_closure(program.host_path));
  }
  std::set<std::string> library_dirs = {"/usr/lib/x86_64-linux-gnu", "/usr/lib64"};
  for (const std::string& tree : spec.host_trees) {
    std::string dest = Under(dir, tree);
    RETURN_IF_ERROR(MakeDirs(fs::path(dest).parent_path().string()));
    fs::copy(tree, dest,
             fs::copy_options::recursive | fs::copy_options::copy_symlinks |
                 fs::copy_options::overwrite_existing,
             ec);
    if (ec) return FsError(absl::StrCat("copy tree ", tree), ec);
    for (auto it = fs::recursive_directory_iterator(tree, ec);
         !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
      if (!it->is_regular_file() || it->is_symlink() || !IsElf(it->path())) continue;
      if (it->path().extension() == ".so") library_dirs.insert(it->path().parent_path().string());
      RETURN_IF_ERROR(add_closure(it->path().string()));
    }
    if (ec) return FsError(absl::StrCat("walk tree ", tree), ec);
  }
  for (const std::string& lib : libraries) {
    RETURN_IF_ERROR(CopyFile(lib, Under(dir, lib)));
    library_dirs.insert(fs::path(lib).parent_path().string());
  }

  for (const auto& [path, contents] : spec.files) {
    bool exec = absl::StartsWith(path, "/bin/") || absl::StartsWith(path, "/usr/bin/") ||
                absl::StartsWith(path, "/app/");
    RETURN_IF_ERROR(WriteFile(Under(dir, path), contents, exec ? 0755 : 0644));
  }
  for (const std::string& d : spec.dirs) RETURN_IF_ERROR(MakeDirs(Under(dir, d)));

  if (!libraries.empty() || !spec.host_trees.empty()) {
    // A loader cache for the image itself, so dlopen() of a plugin finds its
    // dependencies in the directories they were copied to.
    RETURN_IF_ERROR(WriteFile(Under(dir, "/etc/ld.so.conf"),
                              absl::StrCat(absl::StrJoin(library_dirs, "\n"), "\n"), 0644));
    ASSIGN_OR_RETURN(RunResult r,
                     RunSubprocess({"/sbin/ldconfig", "-r", dir}, {}, absl::Seconds(30)));
    if (r.exit_code != 0) {
      return absl::InternalError(absl::StrCat("ldconfig -r ", dir, ": ", r.Describe()));
    }
  }
  return absl::OkStatus();
}

absl::Status WriteRootfsTar(const std::string& dir, const std::string& tar_path) {
  ASSIGN_OR_RETURN(RunResult r,
                   RunSubprocess({"tar", "--numeric-owner", "-C", dir, "-cf", tar_path, "."}, {},
                                 absl::Seconds(120)));
  if (r.exit_code != 0) {
    return absl::InternalError(absl::StrCat("tar of ", dir, ": ", r.Describe()));
  }
  return absl::OkStatus();
}

}  // namespace pmi_shim::testutil
