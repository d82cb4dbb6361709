// What `pmi-bridge exec` looks at in a container image before the engine
// runs, for the pure rewrite (bridge/engines): ch-run binds only onto
// directories its image has, and its image is a host directory (a path, or
// a name in ch-run's storage). Also carries pmi-shim-client into the rank
// directory when the image has nowhere to bind the tools.
#ifndef PMI_SHIM_BRIDGE_EXEC_ENGINE_IMAGE_H_
#define PMI_SHIM_BRIDGE_EXEC_ENGINE_IMAGE_H_

#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "bridge/engines/engine_command.h"

namespace pmi_shim::exec {

// The host directory of ch-run's image `image`: itself when it is a
// directory, else $CH_IMAGE_STORAGE/img/NAME or /var/tmp/$USER.ch/img/NAME
// for a name (ch-run 0.31's storage); nullopt for anything else (a SquashFS
// file, a missing image: ch-run itself will say).
std::optional<std::string> ChImageDirectory(const std::string& image);

// The facts the rewrite of `argv` needs, when its image can be looked into;
// nullopt otherwise (the rewrite then assumes the usual layout). Paths are
// resolved inside the image (its symlinks cannot point the bridge outside).
std::optional<engines::ImageFacts> LookIntoImage(const std::vector<std::string>& argv,
                                                 const engines::EngineContext& context);

// Copies TOOLS/bin/pmi-shim-client to `to` (mode 0755).
absl::Status CarryClient(const std::string& tools_dir, const std::string& to);

}  // namespace pmi_shim::exec

#endif  // PMI_SHIM_BRIDGE_EXEC_ENGINE_IMAGE_H_
