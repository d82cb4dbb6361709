// Reading a whole file in a test; see files.h.
#include "test/testing/files.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>

#include "common/unique_fd.h"

namespace pmi_shim::testutil {

std::string ReadFile(const std::string& path) {
  std::string data;
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd.valid()) return data;
  char buffer[8192];
  for (;;) {
    const ssize_t n = ::read(fd.get(), buffer, sizeof(buffer));
    if (n > 0) {
      data.append(buffer, static_cast<size_t>(n));
    } else if (n < 0 && errno == EINTR) {
      continue;
    } else {
      return data;  // EOF, or the process behind a /proc file is gone
    }
  }
}

}  // namespace pmi_shim::testutil
