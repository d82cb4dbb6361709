#include "hook/apply/container_fixture.h"

#include <fcntl.h>
#include <ftw.h>
#include <sched.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace pmi_shim::hook::testing {

std::string MakeTempDir(const std::string& prefix) {
  std::string path = absl::StrCat("/tmp/", prefix, "XXXXXX");
  if (::mkdtemp(path.data()) == nullptr) return "";
  return path;
}

void RemoveTree(const std::string& path) {
  if (path.empty() || path == "/") return;
  std::system(absl::StrCat("rm -rf '", path, "'").c_str());
}

absl::Status MakeBusyboxRootfs(const std::string& rootfs) {
  for (const char* dir : {"", "/bin", "/proc", "/dev", "/sys", "/tmp", "/etc"}) {
    const std::string path = rootfs + dir;
    if (::mkdir(path.c_str(), 0755) != 0 && errno != EEXIST) {
      return absl::ErrnoToStatus(errno, absl::StrCat("mkdir ", path));
    }
  }
  std::ifstream in("/bin/busybox", std::ios::binary);
  std::ofstream out(rootfs + "/bin/busybox", std::ios::binary);
  if (!in || !out) return absl::NotFoundError("cannot copy /bin/busybox (package busybox-static)");
  out << in.rdbuf();
  out.close();
  if (::chmod((rootfs + "/bin/busybox").c_str(), 0755) != 0) {
    return absl::ErrnoToStatus(errno, "chmod busybox");
  }
  for (const char* tool : {"sh", "cat", "nc", "ls", "echo", "grep", "sleep", "test", "stat"}) {
    if (::symlink("busybox", absl::StrCat(rootfs, "/bin/", tool).c_str()) != 0) {
      return absl::ErrnoToStatus(errno, absl::StrCat("symlink ", tool));
    }
  }
  return absl::OkStatus();
}

NamespaceHolder::NamespaceHolder() {
  int ready[2];
  if (::pipe(ready) != 0) return;
  const pid_t child = ::fork();
  if (child == 0) {
    ::close(ready[0]);
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    char ok = 0;
    if (::unshare(CLONE_NEWNS | CLONE_NEWNET) == 0 &&
        ::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) == 0) {
      ok = 1;
    }
    (void)!::write(ready[1], &ok, 1);
    ::close(ready[1]);
    while (true) ::pause();
  }
  ::close(ready[1]);
  char ok = 0;
  const bool got = ::read(ready[0], &ok, 1) == 1;
  ::close(ready[0]);
  pid_ = child;
  if (!got || ok != 1) Stop();
}

NamespaceHolder::~NamespaceHolder() { Stop(); }

void NamespaceHolder::Stop() {
  if (pid_ <= 0) return;
  ::kill(pid_, SIGKILL);
  ::waitpid(pid_, nullptr, 0);
  pid_ = -1;
}

std::vector<MountEntry> Mounts(pid_t pid) {
  std::vector<MountEntry> entries;
  std::ifstream in(absl::StrCat("/proc/", pid, "/mountinfo"));
  std::string line;
  while (std::getline(in, line)) {
    std::vector<std::string> fields = absl::StrSplit(line, ' ');
    if (fields.size() < 6) continue;
    entries.push_back({fields[4], fields[5]});
  }
  return entries;
}

std::vector<MountEntry> MountsUnder(pid_t pid, const std::string& path) {
  std::vector<MountEntry> found;
  for (MountEntry& entry : Mounts(pid)) {
    if (entry.mount_point == path || absl::StartsWith(entry.mount_point, path + "/")) {
      found.push_back(std::move(entry));
    }
  }
  return found;
}

namespace {
std::vector<std::string>* tree_listing = nullptr;
size_t tree_prefix = 0;
int AddToListing(const char* path, const struct stat*, int, struct FTW*) {
  if (std::strlen(path) > tree_prefix) tree_listing->push_back(path + tree_prefix);
  return 0;
}
}  // namespace

std::vector<std::string> ListTree(const std::string& dir) {
  std::vector<std::string> listing;
  tree_listing = &listing;
  tree_prefix = dir.size();
  ::nftw(dir.c_str(), AddToListing, 16, FTW_PHYS);
  tree_listing = nullptr;
  std::sort(listing.begin(), listing.end());
  return listing;
}

absl::StatusOr<int> ListenUnix(const std::string& path) {
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.size() >= sizeof(addr.sun_path))
    return absl::InvalidArgumentError("socket path too long");
  std::strncpy(addr.sun_path, path.c_str(), sizeof(addr.sun_path) - 1);
  if (fd < 0 || ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 ||
      ::listen(fd, 16) != 0) {
    return absl::ErrnoToStatus(errno, absl::StrCat("listen on ", path));
  }
  return fd;
}

}  // namespace pmi_shim::hook::testing
