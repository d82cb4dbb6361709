// Lexical path rules the planner applies to host paths named by a container's
// config (never touching the filesystem: checks that need lstat belong to the
// applier, which runs them on the path it actually mounts).
#ifndef PMI_SHIM_HOOK_PATHS_H_
#define PMI_SHIM_HOOK_PATHS_H_

#include <string>
#include <vector>

#include "absl/strings/string_view.h"

namespace pmi_shim::hook {

// Resolves "." and ".." and repeated slashes without looking at the disk.
// `base` (absolute) is prepended to a relative `path`.
std::string NormalizePath(absl::string_view base, absl::string_view path);

// True for an absolute path already in normal form: no "//", no "." or ".."
// component, no trailing slash (except "/"), no NUL.
bool IsNormalAbsolute(absl::string_view path);

// True when `path` lies strictly below `dir` (component-wise).
bool IsStrictlyUnder(absl::string_view path, absl::string_view dir);

// The first entry of `dirs` that `path` is strictly under, or "".
std::string AllowedParent(absl::string_view path, const std::vector<std::string>& dirs);

// dirname for a normal absolute path ("/a/b" -> "/a", "/a" -> "/").
std::string ParentDir(absl::string_view path);

}  // namespace pmi_shim::hook

#endif  // PMI_SHIM_HOOK_PATHS_H_
