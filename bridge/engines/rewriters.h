// The per-engine halves of RewriteEngineCommand (engine_command.h), one file
// each: apptainer_command.cc (Apptainer and Singularity share a CLI),
// charliecloud_command.cc, oci_cli_command.cc (Podman and Docker).
#ifndef PMI_SHIM_BRIDGE_ENGINES_REWRITERS_H_
#define PMI_SHIM_BRIDGE_ENGINES_REWRITERS_H_

#include <string>
#include <vector>

#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "bridge/engines/engine_command.h"

namespace pmi_shim::engines::internal {

absl::StatusOr<Rewrite> RewriteApptainer(Engine engine, const std::vector<std::string>& argv,
                                         const EngineContext& context);
absl::StatusOr<Rewrite> RewriteCharliecloud(const std::vector<std::string>& argv,
                                            const EngineContext& context);
absl::StatusOr<Rewrite> RewriteOciCli(Engine engine, const std::vector<std::string>& argv,
                                      const EngineContext& context);

// ch-run's image argument (the first non-option word before "--"), or
// nullopt when the command line names none.
std::optional<std::string> CharliecloudImage(const std::vector<std::string>& argv);

// apptainer/singularity exec|run's image argument (not an instance), or
// nullopt when the command line names none or cannot be read.
std::optional<std::string> ApptainerImage(const std::vector<std::string>& argv);

// The bind specs every bind-mount engine adds, checked for the characters
// the engine would split them at.
absl::Status CheckBindablePath(absl::string_view engine, absl::string_view what,
                               absl::string_view path, absl::string_view forbidden);
// "/a/b/" and "/a/b" name the same mount point.
std::string WithoutTrailingSlash(absl::string_view path);

}  // namespace pmi_shim::engines::internal

#endif  // PMI_SHIM_BRIDGE_ENGINES_REWRITERS_H_
