#include "common/log.h"

#include <fcntl.h>
#include <sys/time.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "common/unique_fd.h"

namespace pmi_shim::log {
namespace {

struct Sink {
  std::string program = "pmi-shim";
  int verbosity = 0;
  UniqueFd json_fd;
};

Sink& TheSink() {
  static Sink* sink = new Sink();  // never destroyed: usable from atexit paths
  return *sink;
}

const char* LevelName(Level level) {
  switch (level) {
    case Level::kDebug:
      return "debug";
    case Level::kInfo:
      return "info";
    case Level::kWarning:
      return "warning";
    case Level::kError:
      return "error";
  }
  return "unknown";
}

void WriteAll(int fd, absl::string_view data) {
  while (!data.empty()) {
    ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;  // nowhere left to report a failing log sink
    data.remove_prefix(static_cast<size_t>(n));
  }
}

}  // namespace

void Init(absl::string_view program_name) { TheSink().program = std::string(program_name); }
absl::string_view ProgramName() { return TheSink().program; }
void SetVerbosity(int verbosity) { TheSink().verbosity = verbosity; }
int Verbosity() { return TheSink().verbosity; }

absl::Status SetJsonFile(const std::string& path) {
  Sink& sink = TheSink();
  if (path.empty()) {
    sink.json_fd.Reset();
    return absl::OkStatus();
  }
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0) {
    return absl::ErrnoToStatus(errno, absl::StrCat("cannot open log file ", path));
  }
  sink.json_fd.Reset(fd);
  return absl::OkStatus();
}

void Write(Level level, absl::string_view message) {
  const int saved_errno = errno;
  Sink& sink = TheSink();
  const bool to_stderr = level >= Level::kWarning ||
                         (level == Level::kInfo && sink.verbosity >= 1) ||
                         (level == Level::kDebug && sink.verbosity >= 2);
  if (to_stderr) {
    WriteAll(STDERR_FILENO, absl::StrCat(sink.program, ": ", message, "\n"));
  }
  if (sink.json_fd.valid()) {
    nlohmann::json line = {
        {"time", absl::FormatTime(absl::RFC3339_full, absl::Now(), absl::UTCTimeZone())},
        {"level", LevelName(level)},
        {"program", sink.program},
        {"pid", static_cast<int>(::getpid())},
        {"msg", std::string(message)},
    };
    WriteAll(sink.json_fd.get(),
             line.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n");
  }
  errno = saved_errno;
}

}  // namespace pmi_shim::log
