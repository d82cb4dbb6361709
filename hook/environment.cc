#include "hook/environment.h"

#include <unistd.h>

#include <climits>
#include <cstdlib>

namespace pmi_shim::hook {

void ScrubEnvironment() {
  ::clearenv();
  ::setenv("PATH", kSafePath, 1);
}

std::string SelfExecutable() {
  char buffer[PATH_MAX];
  ssize_t n = ::readlink("/proc/self/exe", buffer, sizeof buffer - 1);
  return n > 0 ? std::string(buffer, static_cast<size_t>(n)) : std::string();
}

std::string SelfWorkingDirectory() {
  char buffer[PATH_MAX];
  return ::getcwd(buffer, sizeof buffer) != nullptr ? std::string(buffer) : std::string("/");
}

}  // namespace pmi_shim::hook
