#include "bridge/exec/rank_directory.h"

#include <dirent.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <fstream>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/status_macros.h"

namespace pmi_shim::exec {
namespace {

// Removes a directory this module made (its files are its own too).
void RemoveTree(const std::string& path) {
  if (DIR* dir = ::opendir(path.c_str())) {
    while (dirent* entry = ::readdir(dir)) {
      const std::string name = entry->d_name;
      if (name != "." && name != "..") ::unlink(absl::StrCat(path, "/", name).c_str());
    }
    ::closedir(dir);
  }
  ::rmdir(path.c_str());
}

// Directories JOB.RANK.PID under `root`, owned by us, whose PID is gone.
void RemoveStaleSiblings(const std::string& root) {
  DIR* dir = ::opendir(root.c_str());
  if (dir == nullptr) return;
  while (dirent* entry = ::readdir(dir)) {
    const std::string name = entry->d_name;
    const size_t dot = name.rfind('.');
    int pid = 0;
    if (dot == std::string::npos || !absl::SimpleAtoi(name.substr(dot + 1), &pid) || pid <= 0) {
      continue;
    }
    const std::string path = absl::StrCat(root, "/", name);
    struct stat info {};
    if (::lstat(path.c_str(), &info) != 0 || !S_ISDIR(info.st_mode) ||
        info.st_uid != ::getuid()) {
      continue;
    }
    if (::kill(pid, 0) != 0 && errno == ESRCH) RemoveTree(path);
  }
  ::closedir(dir);
}

std::string InodeOf(const char* path) {
  struct stat info {};
  if (::stat(path, &info) != 0) return "none";
  return absl::StrCat(info.st_dev, ":", info.st_ino);
}

// readlink of /proc/self/ns/KIND, e.g. "ipc:[4026531839]".
std::string NamespaceOf(const char* kind) {
  char link[64] = {};
  const ssize_t n = ::readlink(absl::StrCat("/proc/self/ns/", kind).c_str(), link, sizeof(link) - 1);
  return n > 0 ? std::string(link, n) : "unknown";
}

}  // namespace

std::string PathSafeJobName(const std::string& job) {
  std::string safe;
  for (char c : job) {
    const bool plain = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                       (c >= '0' && c <= '9') || c == '_' || c == '-';
    safe += plain ? c : '_';
    if (safe.size() == 40) break;  // sun_path holds 107 bytes in all
  }
  return safe.empty() ? "job" : safe;
}

absl::StatusOr<std::unique_ptr<RankDirectory>> RankDirectory::Create(const std::string& root,
                                                                     const std::string& job,
                                                                     int rank) {
  if (::mkdir(root.c_str(), 0755) != 0 && errno != EEXIST) {
    return absl::ErrnoToStatus(errno, absl::StrCat("cannot create ", root,
                                                   " (set --publish-dir or PMI_SHIM_RUNDIR)"));
  }
  RemoveStaleSiblings(root);
  const std::string path = absl::StrCat(root, "/", PathSafeJobName(job), ".", rank, ".", ::getpid());
  if (::mkdir(path.c_str(), 0700) != 0) {
    return absl::ErrnoToStatus(errno, absl::StrCat("cannot create ", path));
  }
  return std::unique_ptr<RankDirectory>(new RankDirectory(path));
}

RankDirectory::~RankDirectory() { RemoveTree(path_); }

std::string RankDirectory::SocketPath() const {
  return absl::StrCat(path_, "/", rendezvous::kSocketName);
}

std::string RankDirectory::PmixSocketPath() const { return absl::StrCat(path_, "/pmix.sock"); }

absl::Status RankDirectory::WriteEnv(const rendezvous::EnvEntries& entries) {
  ASSIGN_OR_RETURN(std::string text, rendezvous::FormatEnvFile(entries));
  const std::string final_path = absl::StrCat(path_, "/", rendezvous::kEnvFileName);
  const std::string temporary = absl::StrCat(final_path, ".new");
  {
    std::ofstream out(temporary, std::ios::trunc);
    out << text;
    if (!out.flush()) return absl::InternalError(absl::StrCat("cannot write ", temporary));
  }
  if (::rename(temporary.c_str(), final_path.c_str()) != 0) {
    return absl::ErrnoToStatus(errno, absl::StrCat("cannot rename ", temporary));
  }
  return absl::OkStatus();
}

std::string DefaultPublishRoot() {
  if (const char* root = std::getenv("PMI_SHIM_RUNDIR"); root != nullptr && *root != '\0') {
    return root;
  }
  return ::getuid() == 0 ? "/run/pmi-shim" : absl::StrCat("/tmp/pmi-shim-", ::getuid());
}

rendezvous::EnvEntries HostSharingFacts() {
  return {{"PMI_SHIM_HOST_IPC_NS", NamespaceOf("ipc")},
          {"PMI_SHIM_HOST_USER_NS", NamespaceOf("user")},
          {"PMI_SHIM_HOST_SHM", InodeOf("/dev/shm")},
          {"PMI_SHIM_HOST_TMP", InodeOf("/tmp")}};
}

}  // namespace pmi_shim::exec
