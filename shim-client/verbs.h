// The verbs of pmi-shim-client, each returning the process's exit status
// (exec returns only when it could not exec).
#ifndef PMI_SHIM_SHIM_CLIENT_VERBS_H_
#define PMI_SHIM_SHIM_CLIENT_VERBS_H_

#include "shim-client/command_line.h"

namespace pmi_shim::shim_client {

// exec's own failures, as env(1) and `docker run` report theirs.
inline constexpr int kExitSetupFailed = 125;
inline constexpr int kExitNotExecutable = 126;
inline constexpr int kExitNotFound = 127;

int RunExec(const CommandLine& line);
int RunCheck(const CommandLine& line);
int RunInspect(const CommandLine& line);

}  // namespace pmi_shim::shim_client

#endif  // PMI_SHIM_SHIM_CLIENT_VERBS_H_
