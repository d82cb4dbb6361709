// Where diagnose reads a host environment from: this process, a file of
// KEY=VALUE lines (or NUL-separated, as /proc/PID/environ), or a pid.
#ifndef PMI_SHIM_BRIDGE_DIAGNOSE_HOST_ENV_SOURCE_H_
#define PMI_SHIM_BRIDGE_DIAGNOSE_HOST_ENV_SOURCE_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "bridge/upstream/host_endpoint.h"

namespace pmi_shim::diagnose {

// Pure: NUL-separated entries when the text holds a NUL, else lines
// (blank lines, '#' comments and a leading "export " are skipped).
upstream::Environment ParseEnvironmentText(absl::string_view text);

upstream::Environment OwnEnvironment();
absl::StatusOr<upstream::Environment> EnvironmentFromFile(const std::string& path);
absl::StatusOr<upstream::Environment> EnvironmentOfPid(int pid);

}  // namespace pmi_shim::diagnose

#endif  // PMI_SHIM_BRIDGE_DIAGNOSE_HOST_ENV_SOURCE_H_
