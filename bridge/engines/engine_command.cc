#include "bridge/engines/engine_command.h"

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "bridge/engines/rewriters.h"
#include "common/rendezvous.h"
#include "common/status_macros.h"

namespace pmi_shim::engines {
namespace internal {

absl::Status CheckBindablePath(absl::string_view engine, absl::string_view what,
                               absl::string_view path, absl::string_view forbidden) {
  for (char c : forbidden) {
    if (path.find(c) != absl::string_view::npos) {
      return absl::InvalidArgumentError(absl::StrCat(
          engine, " splits its bind and env lists at '", std::string(1, c), "', so the ", what, " ",
          path, " cannot be passed; choose a path without it"));
    }
  }
  return absl::OkStatus();
}

std::string WithoutTrailingSlash(absl::string_view path) {
  while (path.size() > 1 && path.back() == '/') path.remove_suffix(1);
  return std::string(path);
}

}  // namespace internal

namespace {

bool IsBindEngine(Engine engine) {
  return engine == Engine::kApptainer || engine == Engine::kSingularity ||
         engine == Engine::kCharliecloud;
}

absl::Status CheckContext(Engine engine, const EngineContext& context) {
  if (!absl::StartsWith(context.rank_dir, "/")) {
    return absl::InvalidArgumentError(absl::StrCat("the rank directory for ", EngineName(engine),
                                                   " must be an absolute path, not '",
                                                   context.rank_dir, "'"));
  }
  if (!context.tools_dir.empty() && !absl::StartsWith(context.tools_dir, "/")) {
    return absl::InvalidArgumentError(absl::StrCat(
        "the tools directory must be an absolute path, not '", context.tools_dir, "'"));
  }
  return absl::OkStatus();
}

}  // namespace

bool ImageFacts::Has(absl::string_view path) const {
  const std::string wanted = internal::WithoutTrailingSlash(path);
  for (const std::string& directory : directories) {
    if (internal::WithoutTrailingSlash(directory) == wanted) return true;
  }
  return false;
}

std::optional<std::string> ImageToInspect(const std::vector<std::string>& argv) {
  if (argv.empty()) return std::nullopt;
  switch (EngineOfProgram(argv[0])) {
    case Engine::kCharliecloud:
      return internal::CharliecloudImage(argv);
    case Engine::kApptainer:
    case Engine::kSingularity:
      return internal::ApptainerImage(argv);  // a sandbox directory is worth a look
    default:
      return std::nullopt;
  }
}

std::vector<std::string> ImagePathsToCheck(const std::vector<std::string>& argv,
                                           const EngineContext& context) {
  if (argv.empty()) return {};
  switch (EngineOfProgram(argv[0])) {
    case Engine::kCharliecloud:
      return {rendezvous::kContainerToolsDir, internal::WithoutTrailingSlash(context.rank_dir)};
    case Engine::kApptainer:
    case Engine::kSingularity:
      return {rendezvous::kContainerToolsDir};
    default:
      return {};
  }
}

absl::string_view EngineName(Engine engine) {
  switch (engine) {
    case Engine::kApptainer:
      return "apptainer";
    case Engine::kSingularity:
      return "singularity";
    case Engine::kCharliecloud:
      return "charliecloud";
    case Engine::kPodman:
      return "podman";
    case Engine::kDocker:
      return "docker";
    case Engine::kNone:
      break;
  }
  return "none";
}

std::optional<Engine> ParseEngineName(absl::string_view name) {
  for (Engine engine : {Engine::kApptainer, Engine::kSingularity, Engine::kCharliecloud,
                        Engine::kPodman, Engine::kDocker}) {
    if (name == EngineName(engine)) return engine;
  }
  if (name == "ch-run") return Engine::kCharliecloud;
  return std::nullopt;
}

Engine EngineOfProgram(absl::string_view argv0) {
  const size_t slash = argv0.rfind('/');
  const absl::string_view base = slash == absl::string_view::npos ? argv0 : argv0.substr(slash + 1);
  if (base == "apptainer") return Engine::kApptainer;
  if (base == "singularity") return Engine::kSingularity;
  if (base == "ch-run") return Engine::kCharliecloud;
  if (base == "podman") return Engine::kPodman;
  if (base == "docker") return Engine::kDocker;
  // Wrappers with the same command line: NERSC's podman-hpc, nerdctl
  // (Docker's). Their own extra options are not all known here: a rewrite
  // that fails for them is not fatal (IsEngineAlias).
  if (base == "podman-hpc") return Engine::kPodman;
  if (base == "nerdctl") return Engine::kDocker;
  return Engine::kNone;
}

bool IsEngineAlias(absl::string_view argv0) {
  const size_t slash = argv0.rfind('/');
  const absl::string_view base = slash == absl::string_view::npos ? argv0 : argv0.substr(slash + 1);
  return base == "podman-hpc" || base == "nerdctl";
}

std::vector<std::string> ClientPrefix() { return {kClientPath, "exec", "--"}; }

absl::StatusOr<Rewrite> RewriteEngineCommand(const std::vector<std::string>& argv,
                                             const EngineContext& context) {
  const Engine engine = argv.empty() ? Engine::kNone : EngineOfProgram(argv[0]);
  if (engine == Engine::kNone) return Rewrite{Engine::kNone, argv, {}};
  if (IsBindEngine(engine) || !context.env.empty()) RETURN_IF_ERROR(CheckContext(engine, context));
  switch (engine) {
    case Engine::kApptainer:
    case Engine::kSingularity:
      return internal::RewriteApptainer(engine, argv, context);
    case Engine::kCharliecloud:
      return internal::RewriteCharliecloud(argv, context);
    case Engine::kPodman:
    case Engine::kDocker:
      return internal::RewriteOciCli(engine, argv, context);
    case Engine::kNone:
      break;
  }
  return Rewrite{Engine::kNone, argv, {}};
}

namespace {

constexpr char kImageWord[] = "IMAGE";

// The plainest command line that runs APP in IMAGE with `engine`: what a
// rewrite adds to it are the flags a user adds by hand.
std::vector<std::string> PlainCommandLine(Engine engine) {
  switch (engine) {
    case Engine::kApptainer:
    case Engine::kSingularity:
      return {std::string(EngineName(engine)), "exec", kImageWord, "APP"};
    case Engine::kCharliecloud:
      return {"ch-run", kImageWord, "--", "APP"};
    case Engine::kPodman:
    case Engine::kDocker:
      return {std::string(EngineName(engine)), "run", kImageWord, "APP"};
    case Engine::kNone:
      break;
  }
  return {};
}

// How the engine passes the environment besides flags, first among the notes.
void AddEnvironmentChannel(Engine engine, const EngineContext& context,
                           EngineAdditions& additions) {
  switch (engine) {
    case Engine::kApptainer:
    case Engine::kSingularity: {
      const std::string channel =
          engine == Engine::kApptainer ? "APPTAINERENV_" : "SINGULARITYENV_";
      for (const auto& [key, value] : context.env) {
        additions.engine_environment.emplace_back(channel + key, value);
      }
      additions.notes.insert(
          additions.notes.begin(),
          absl::StrCat("--env needs Apptainer >= 1.0 or Singularity >= 3.6; otherwise set ",
                       channel, "PMI_SHIM_DIR in the environment of ", EngineName(engine),
                       " instead (kept by --cleanenv too)"));
      break;
    }
    case Engine::kCharliecloud:
      additions.notes.insert(additions.notes.begin(),
                             "ch-run passes the host environment through: PMI_SHIM_DIR needs no "
                             "flag unless --unset-env removes it; put the prefix after '--'");
      break;
    case Engine::kPodman:
    case Engine::kDocker:
    case Engine::kNone:
      break;
  }
}

}  // namespace

absl::StatusOr<EngineAdditions> AdditionsFor(Engine engine, const EngineContext& context) {
  if (engine == Engine::kNone) {
    return absl::InvalidArgumentError(
        "no engine named; pick one of apptainer, singularity, "
        "charliecloud, podman, docker");
  }
  RETURN_IF_ERROR(CheckContext(engine, context));
  // The flags are the ones a rewrite adds to a plain command line, so both
  // paths stay the same by construction.
  ASSIGN_OR_RETURN(Rewrite rewrite, RewriteEngineCommand(PlainCommandLine(engine), context));
  EngineAdditions additions;
  size_t at = engine == Engine::kCharliecloud ? 1 : 2;
  while (at < rewrite.argv.size() && rewrite.argv[at] != kImageWord) {
    additions.flags.push_back(rewrite.argv[at++]);
  }
  additions.prefix = ClientPrefix();
  additions.notes = rewrite.notes;
  AddEnvironmentChannel(engine, context, additions);
  return additions;
}

}  // namespace pmi_shim::engines
