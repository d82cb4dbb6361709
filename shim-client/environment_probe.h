// The thin, syscall side of `check`: fills EnvironmentFacts from this
// process's environment, /proc and stat(2). Everything it gathers is judged
// by the pure detectors in environment_checks.h.
#ifndef PMI_SHIM_SHIM_CLIENT_ENVIRONMENT_PROBE_H_
#define PMI_SHIM_SHIM_CLIENT_ENVIRONMENT_PROBE_H_

#include <optional>
#include <string>

#include "shim-client/environment_checks.h"
#include "shim-client/exec_plan.h"
#include "shim-client/rendezvous_locator.h"

namespace pmi_shim::shim_client {

// "DEV:INO" of `path` (following symlinks), or nullopt when it is missing.
std::optional<std::string> FileIdentity(const std::string& path);

// This process's environment as execve takes it.
Environ CurrentEnviron();

EnvironmentFacts GatherFacts(const Environ& environ, const LocateResult& located);

}  // namespace pmi_shim::shim_client

#endif  // PMI_SHIM_SHIM_CLIENT_ENVIRONMENT_PROBE_H_
