#include "shim-client/rendezvous_locator.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "common/unique_fd.h"

namespace pmi_shim::shim_client {
namespace {

// The env file is a few hundred bytes; anything near the cap is not ours.
constexpr size_t kMaxEnvFileBytes = 1 << 20;

absl::StatusOr<std::string> ReadSmallFile(const std::string& path) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd.valid()) return absl::ErrnoToStatus(errno, absl::StrCat("cannot open ", path));
  std::string text;
  char buffer[4096];
  while (true) {
    const ssize_t n = ::read(fd.get(), buffer, sizeof(buffer));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return absl::ErrnoToStatus(errno, absl::StrCat("cannot read ", path));
    if (n == 0) break;
    text.append(buffer, static_cast<size_t>(n));
    if (text.size() > kMaxEnvFileBytes) {
      return absl::InvalidArgumentError(absl::StrCat(path, " is larger than 1 MiB"));
    }
  }
  return text;
}

}  // namespace

absl::StatusOr<Protocol> ParseProtocol(absl::string_view name) {
  if (name == "pmi1") return Protocol::kPmi1;
  if (name == "pmi2") return Protocol::kPmi2;
  if (name == "pmi") return Protocol::kPmi;
  if (name == "pmix") return Protocol::kPmix;
  if (name == "pmix1") return Protocol::kPmixV1;
  return absl::InvalidArgumentError(
      absl::StrCat("unknown protocol '", name, "' (expected pmi1, pmi2, pmi, pmix or pmix1)"));
}

absl::string_view ProtocolName(Protocol protocol) {
  switch (protocol) {
    case Protocol::kPmi1:
      return "pmi1";
    case Protocol::kPmi2:
      return "pmi2";
    case Protocol::kPmi:
      return "pmi";
    case Protocol::kPmix:
      return "pmix";
    case Protocol::kPmixV1:
      return "pmix1";
  }
  return "?";
}

std::string Rendezvous::SocketPath() const {
  return absl::StrCat(dir, "/", rendezvous::kSocketName);
}

std::string Rendezvous::PmixSocketPath() const { return absl::StrCat(dir, "/", kPmixSocketName); }

std::string Rendezvous::Get(const std::string& key) const {
  return rendezvous::FindEnv(entries, key);
}

std::vector<std::string> CandidateDirs(const std::string& flag_dir, const std::string& env_dir) {
  if (!flag_dir.empty()) return {flag_dir};
  std::vector<std::string> dirs = {rendezvous::kContainerDir};
  if (!env_dir.empty() && env_dir != rendezvous::kContainerDir) dirs.push_back(env_dir);
  return dirs;
}

absl::StatusOr<Rendezvous> InterpretEnvFile(const std::string& dir, const std::string& text) {
  const std::string file = absl::StrCat(dir, "/", rendezvous::kEnvFileName);
  absl::StatusOr<rendezvous::EnvEntries> entries = rendezvous::ParseEnvFile(text);
  if (!entries.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(file, ": ", entries.status().message()));
  }
  Rendezvous result;
  result.dir = dir;
  result.entries = *std::move(entries);
  const std::string protocol = result.Get(rendezvous::kProtocolKey);
  if (protocol.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat(file, " has no ", rendezvous::kProtocolKey, "= line"));
  }
  absl::StatusOr<Protocol> parsed = ParseProtocol(protocol);
  if (!parsed.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(file, ": ", parsed.status().message()));
  }
  result.protocol = *parsed;
  return result;
}

absl::StatusOr<LocateResult> Locate(const std::vector<std::string>& candidates) {
  LocateResult result;
  for (const std::string& dir : candidates) {
    result.searched.push_back(dir);
    const std::string file = absl::StrCat(dir, "/", rendezvous::kEnvFileName);
    struct stat st {};
    if (::stat(file.c_str(), &st) != 0) {
      if (errno == ENOENT || errno == ENOTDIR) continue;
      return absl::ErrnoToStatus(errno, absl::StrCat("cannot stat ", file));
    }
    ASSIGN_OR_RETURN(std::string text, ReadSmallFile(file));
    ASSIGN_OR_RETURN(Rendezvous rendezvous, InterpretEnvFile(dir, text));
    result.rendezvous = std::move(rendezvous);
    return result;
  }
  return result;
}

}  // namespace pmi_shim::shim_client
