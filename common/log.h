// Logging for the pmi-shim programs: one sink per process.
//
// Every message is one line. On stderr it reads "PROGRAM: message" (errors and
// warnings always, info and debug only with verbosity), so a user sees what
// went wrong and what to do. With a log file set, every message is also
// appended there as a JSON line {"time","level","program","pid","msg", ...}
// that engines and tests can read. Each line goes out in a single write(2),
// so lines from several processes never interleave.
//
//   pmi_shim::log::Init("pmi-bridge");
//   pmi_shim::log::Error("rank 3: value too long; keep values under 1024 bytes");
#ifndef PMI_SHIM_COMMON_LOG_H_
#define PMI_SHIM_COMMON_LOG_H_

#include <string>

#include "absl/strings/string_view.h"

#include "absl/status/status.h"

namespace pmi_shim::log {

enum class Level { kDebug = 0, kInfo = 1, kWarning = 2, kError = 3 };

// Names the program for the stderr prefix. Call once, first thing in main().
void Init(absl::string_view program_name);
absl::string_view ProgramName();

// 0: errors and warnings on stderr; 1: also info; 2: also debug.
void SetVerbosity(int verbosity);
int Verbosity();  // passed on to the helpers a bridge starts (node-server)

// Appends JSON lines to `path` (created 0600 if missing). Empty closes it.
absl::Status SetJsonFile(const std::string& path);

void Write(Level level, absl::string_view message);
inline void Error(absl::string_view message) { Write(Level::kError, message); }
inline void Warning(absl::string_view message) { Write(Level::kWarning, message); }
inline void Info(absl::string_view message) { Write(Level::kInfo, message); }
inline void Debug(absl::string_view message) { Write(Level::kDebug, message); }

}  // namespace pmi_shim::log

#endif  // PMI_SHIM_COMMON_LOG_H_
