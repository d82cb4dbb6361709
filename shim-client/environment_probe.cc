#include "shim-client/environment_probe.h"

#include "shim-client/inherited_fd.h"

#include <sys/stat.h>
#include <unistd.h>

#include "absl/strings/str_cat.h"

extern char** environ;

namespace pmi_shim::shim_client {
namespace {

std::string ReadLink(const char* path) {
  char link[256];
  const ssize_t n = ::readlink(path, link, sizeof(link) - 1);
  return n > 0 ? std::string(link, static_cast<size_t>(n)) : "";
}

}  // namespace

std::optional<std::string> FileIdentity(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return std::nullopt;
  return absl::StrCat(static_cast<uint64_t>(st.st_dev), ":", static_cast<uint64_t>(st.st_ino));
}

Environ CurrentEnviron() {
  Environ result;
  for (char** entry = ::environ; entry != nullptr && *entry != nullptr; ++entry) {
    result.emplace_back(*entry);
  }
  return result;
}

EnvironmentFacts GatherFacts(const Environ& environ, const LocateResult& located) {
  EnvironmentFacts facts;
  for (const std::string& entry : environ) {
    const size_t equals = entry.find('=');
    if (equals == std::string::npos) continue;
    facts.env.emplace(entry.substr(0, equals), entry.substr(equals + 1));
  }
  facts.searched_dirs = located.searched;
  if (located.rendezvous.has_value()) {
    const Rendezvous& found = *located.rendezvous;
    facts.rendezvous_dir = found.dir;
    facts.host_ipc_ns = found.Get(kHostIpcNsKey);
    facts.host_shm = found.Get(kHostShmKey);
    facts.host_tmp = found.Get(kHostTmpKey);
    facts.host_user_ns = found.Get(kHostUserNsKey);
  }
  facts.ipc_ns = ReadLink("/proc/self/ns/ipc");
  facts.user_ns = ReadLink("/proc/self/ns/user");
  facts.shm = FileIdentity("/dev/shm");
  facts.tmp = FileIdentity("/tmp");
  if (auto fd = facts.env.find("PMI_FD"); fd != facts.env.end()) {
    FdJudgement judged = JudgeInheritedFd(ProbeInheritedFd(fd->second), std::nullopt);
    if (!judged.usable) facts.dead_pmi_fd = judged.why;
  }
  facts.has_dockerenv = ::access("/.dockerenv", F_OK) == 0;
  facts.has_containerenv = ::access("/run/.containerenv", F_OK) == 0;
  return facts;
}

}  // namespace pmi_shim::shim_client
