// Recognising a container engine's command line and rewriting it so the
// container sees its rank's pmi-shim rendezvous (common/rendezvous.h).
//
// `pmi-bridge exec -- apptainer exec IMAGE app` becomes, for one rank,
//
//   apptainer exec --bind RANKDIR --bind TOOLS:/opt/pmi-shim:ro
//       --env PMI_SHIM_DIR=RANKDIR IMAGE /opt/pmi-shim/bin/pmi-shim-client exec -- app
//
// Bind-mount engines (Apptainer, Singularity, Charliecloud) get the rank
// directory at its host path, pmi-shim's programs at /opt/pmi-shim, the
// variables through the engine's own channel and the client in front of the
// command. Hook engines (Podman, Docker) only get PMI_SHIM_DIR: the OCI hook
// or runtime wrapper does the mounts. Anything else is left alone.
//
// Pure: no file is looked at, so every rewrite is a golden test
// (testdata/rewrite_golden.txt). What cannot be ensured from the command
// line alone (a directory the image must contain, a running instance's
// binds) is said in Rewrite::notes.
#ifndef PMI_SHIM_BRIDGE_ENGINES_ENGINE_COMMAND_H_
#define PMI_SHIM_BRIDGE_ENGINES_ENGINE_COMMAND_H_

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace pmi_shim::engines {

enum class Engine { kNone, kApptainer, kSingularity, kCharliecloud, kPodman, kDocker };

// "apptainer", "singularity", "charliecloud", "podman", "docker", "none".
absl::string_view EngineName(Engine engine);
// The inverse, for `pmi-bridge env --for NAME` ("ch-run" also names Charliecloud).
std::optional<Engine> ParseEngineName(absl::string_view name);
// The engine a program is, by the basename of argv[0] ("/usr/bin/apptainer").
Engine EngineOfProgram(absl::string_view argv0);
// A wrapper recognised by its name as having an engine's command line
// (podman-hpc, nerdctl), whose own options may be unknown here.
bool IsEngineAlias(absl::string_view argv0);

// Where pmi-shim-client is inside every container, and what goes before the
// container's command.
inline constexpr char kClientPath[] = "/opt/pmi-shim/bin/pmi-shim-client";
std::vector<std::string> ClientPrefix();  // {kClientPath, "exec", "--"}

// What the bridge saw of the image before running the engine: the rewrite
// stays pure, the caller looks (ImageToInspect, then the paths of
// ImagePathsToCheck) and passes the answer in.
struct ImageFacts {
  std::string image;                     // as named on the command line
  std::vector<std::string> directories;  // checked paths that are directories in it
  bool Has(absl::string_view path) const;
};

struct EngineContext {
  std::string rank_dir;   // host path of the rank's directory
  std::string tools_dir;  // host install prefix holding bin/pmi-shim-client;
                          // empty: the site already binds it at /opt/pmi-shim
  std::vector<std::pair<std::string, std::string>> env;  // what the container must see
  // The image's facts when the caller could look (ch-run's image is a host
  // directory); nullopt: unknown, the rewrite assumes the usual layout and
  // says what the image must have.
  std::optional<ImageFacts> image;
};

struct Rewrite {
  Engine engine = Engine::kNone;
  std::vector<std::string> argv;   // the command to run instead
  std::vector<std::string> notes;  // one line each, for --dry-run and -v
  // Non-empty: before running argv, the caller copies TOOLS/bin/pmi-shim-client
  // to this host path (inside the rank directory, which the container sees
  // at the same path), because the image has nowhere to bind the tools.
  std::string carry_client_to;
};

// The image argument of an engine command line when it may be a host
// directory worth looking into (ch-run IMAGE), else nullopt.
std::optional<std::string> ImageToInspect(const std::vector<std::string>& argv);
// The in-image directories whose existence the rewrite of `argv` depends
// on (ch-run: /opt/pmi-shim and the rank directory).
std::vector<std::string> ImagePathsToCheck(const std::vector<std::string>& argv,
                                           const EngineContext& context);

// Recognises `apptainer|singularity [GLOBAL] exec|run ...`, `ch-run ...`,
// `podman|docker [GLOBAL] [container] run ...`. Anything else comes back as
// Engine::kNone with argv unchanged (a note may say why: `apptainer shell`).
// An error means the command names an engine but cannot be rewritten
// faithfully (an option pmi-bridge does not know, a missing image, a path
// the engine would split); it says what to do instead.
absl::StatusOr<Rewrite> RewriteEngineCommand(const std::vector<std::string>& argv,
                                             const EngineContext& context);

// What a user who writes the engine command line by hand must add
// (`pmi-bridge env --for ENGINE`).
struct EngineAdditions {
  std::vector<std::string> flags;   // options, before the image
  std::vector<std::string> prefix;  // words before the container's command
  // The same variables through the engine's environment channel instead of
  // flags (APPTAINERENV_PMI_SHIM_DIR=...), where it has one.
  std::vector<std::pair<std::string, std::string>> engine_environment;
  std::vector<std::string> notes;
};
absl::StatusOr<EngineAdditions> AdditionsFor(Engine engine, const EngineContext& context);

}  // namespace pmi_shim::engines

#endif  // PMI_SHIM_BRIDGE_ENGINES_ENGINE_COMMAND_H_
