// The hook runs as root, started by runc/crun/Podman with whatever
// environment they pass (possibly inherited from a user). It decides from
// config.json only, and clears its own environment first so nothing it runs
// or loads later (relays, libc's locale/iconv/malloc knobs) sees LD_PRELOAD,
// GCONV_PATH and the like. Also: the path of this binary.
#ifndef PMI_SHIM_HOOK_ENVIRONMENT_H_
#define PMI_SHIM_HOOK_ENVIRONMENT_H_

#include <string>

namespace pmi_shim::hook {

inline constexpr char kSafePath[] = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

// Leaves exactly PATH=kSafePath.
void ScrubEnvironment();

// readlink(/proc/self/exe), or "" if unreadable.
std::string SelfExecutable();

// getcwd(), or "/" if unreadable.
std::string SelfWorkingDirectory();

}  // namespace pmi_shim::hook

#endif  // PMI_SHIM_HOOK_ENVIRONMENT_H_
