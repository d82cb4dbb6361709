// Apptainer and Singularity (SingularityCE, and Apptainer's `singularity`
// link) share one command line: `PROG [GLOBAL] exec|run [OPTS] IMAGE ARGS`.
// Options stop at the image (pflag with interspersed flags off), so every
// word after it belongs to the container.
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "bridge/engines/engine_command.h"
#include "bridge/engines/option_scanner.h"
#include "bridge/engines/rewriters.h"
#include "common/rendezvous.h"
#include "common/status_macros.h"

namespace pmi_shim::engines::internal {
namespace {

using A = OptionArg;

// Options of the root command (before exec/run); -c is --config here but
// --contain after the subcommand.
const std::vector<OptionSpec>& GlobalOptions() {
  static const auto* table = new std::vector<OptionSpec>{
      {"debug", 'd', A::kNone},   {"quiet", 'q', A::kNone}, {"silent", 's', A::kNone},
      {"verbose", 'v', A::kNone}, {"nocolor", 0, A::kNone}, {"build-config", 0, A::kNone},
      {"help", 'h', A::kNone},    {"version", 0, A::kNone}, {"config", 'c', A::kRequired},
  };
  return *table;
}

// The action commands' options (Apptainer 1.x cmd/internal/cli/action_flags.go,
// plus SingularityCE 4's --oci family). Values are what matter: a valued
// option we took for a switch would make its value look like the image.
const std::vector<OptionSpec>& ActionOptions() {
  static const auto* table = new std::vector<OptionSpec>{
      // with a value
      {"add-caps", 0, A::kRequired},
      {"app", 0, A::kRequired},
      {"apply-cgroups", 0, A::kRequired},
      {"bind", 'B', A::kRequired},
      {"mount", 0, A::kRequired},
      {"home", 'H', A::kRequired},
      {"overlay", 'o', A::kRequired},
      {"scratch", 'S', A::kRequired},
      {"workdir", 'W', A::kRequired},
      {"shell", 's', A::kRequired},
      {"cwd", 0, A::kRequired},
      {"pwd", 0, A::kRequired},
      {"hostname", 0, A::kRequired},
      {"network", 0, A::kRequired},
      {"network-args", 0, A::kRequired},
      {"dns", 0, A::kRequired},
      {"security", 0, A::kRequired},
      {"vm-ram", 0, A::kRequired},
      {"vm-cpu", 0, A::kRequired},
      {"vm-ip", 0, A::kRequired},
      {"containlibs", 0, A::kRequired},
      {"fusemount", 0, A::kRequired},
      {"tmpdir", 0, A::kRequired},
      {"env", 0, A::kRequired},
      {"env-file", 0, A::kRequired},
      {"no-mount", 0, A::kRequired},
      {"dmtcp-launch", 0, A::kRequired},
      {"dmtcp-restart", 0, A::kRequired},
      {"blkio-weight", 0, A::kRequired},
      {"blkio-weight-device", 0, A::kRequired},
      {"cpu-shares", 0, A::kRequired},
      {"cpus", 0, A::kRequired},
      {"cpuset-cpus", 0, A::kRequired},
      {"cpuset-mems", 0, A::kRequired},
      {"memory", 0, A::kRequired},
      {"memory-reservation", 0, A::kRequired},
      {"memory-swap", 0, A::kRequired},
      {"pids-limit", 0, A::kRequired},
      {"drop-caps", 0, A::kRequired},
      {"docker-host", 0, A::kRequired},
      {"docker-username", 0, A::kRequired},
      {"docker-password", 0, A::kRequired},
      {"pem-path", 0, A::kRequired},
      {"authfile", 0, A::kRequired},
      {"device", 0, A::kRequired},
      {"cdi-dirs", 0, A::kRequired},
      {"data", 0, A::kRequired},
      // switches
      {"allow-setuid", 0, A::kNone},
      {"boot", 0, A::kNone},
      {"fakeroot", 'f', A::kNone},
      {"cleanenv", 'e', A::kNone},
      {"compat", 0, A::kNone},
      {"no-compat", 0, A::kNone},
      {"contain", 'c', A::kNone},
      {"containall", 'C', A::kNone},
      {"nv", 0, A::kNone},
      {"nvccli", 0, A::kNone},
      {"rocm", 0, A::kNone},
      {"writable", 'w', A::kNone},
      {"writable-tmpfs", 0, A::kNone},
      {"no-home", 0, A::kNone},
      {"no-init", 0, A::kNone},
      {"no-nv", 0, A::kNone},
      {"no-rocm", 0, A::kNone},
      {"vm", 0, A::kNone},
      {"vm-err", 0, A::kNone},
      {"syos", 0, A::kNone},
      {"pid", 'p', A::kNone},
      {"no-pid", 0, A::kNone},
      {"ipc", 'i', A::kNone},
      {"net", 'n', A::kNone},
      {"uts", 0, A::kNone},
      {"userns", 'u', A::kNone},
      {"keep-privs", 0, A::kNone},
      {"no-privs", 0, A::kNone},
      {"no-umask", 0, A::kNone},
      {"no-eval", 0, A::kNone},
      {"disable-cache", 0, A::kNone},
      {"oom-kill-disable", 0, A::kNone},
      {"unsquash", 0, A::kNone},
      {"underlay", 0, A::kNone},
      {"sharens", 0, A::kNone},
      {"ignore-subuid", 0, A::kNone},
      {"ignore-fakeroot-command", 0, A::kNone},
      {"ignore-userns", 0, A::kNone},
      {"nohttps", 0, A::kNone},
      {"no-https", 0, A::kNone},
      {"docker-login", 0, A::kNone},
      {"passphrase", 0, A::kNone},
      {"oci", 0, A::kNone},
      {"no-oci", 0, A::kNone},
      {"sif-fuse", 0, A::kNone},
      {"no-setgroups", 0, A::kNone},
      {"keep-layers", 0, A::kNone},
      {"tmp-sandbox", 0, A::kNone},
      {"no-tmp-sandbox", 0, A::kNone},
      {"help", 'h', A::kNone},
  };
  return *table;
}

// Where `run` would start inside the image: the actions/run script of
// Apptainer and Singularity execs the app's runscript under --app, else
// /.singularity.d/runscript (also generated for docker:// images from their
// ENTRYPOINT and CMD), with the run arguments.
std::string RunscriptPath(const std::string& app) {
  if (!app.empty()) return absl::StrCat("/scif/apps/", app, "/scif/runscript");
  return "/.singularity.d/runscript";
}

// The destinations of -B/--bind specs "src[:dest[:opts]],..." and of
// --mount "type=bind,source=..,destination=..".
std::vector<std::string> BindDestinations(const std::vector<ScannedOption>& options) {
  std::vector<std::string> destinations;
  for (const ScannedOption& option : options) {
    if (option.name == "bind") {
      for (absl::string_view spec : absl::StrSplit(option.value, ',', absl::SkipEmpty())) {
        std::vector<absl::string_view> parts = absl::StrSplit(spec, ':');
        destinations.push_back(WithoutTrailingSlash(parts.size() > 1 ? parts[1] : parts[0]));
      }
    } else if (option.name == "mount") {
      for (absl::string_view field : absl::StrSplit(option.value, ',')) {
        for (absl::string_view key : {"destination=", "dst=", "target="}) {
          if (absl::ConsumePrefix(&field, key)) destinations.push_back(WithoutTrailingSlash(field));
        }
      }
    }
  }
  return destinations;
}

bool Has(const std::vector<ScannedOption>& options, absl::string_view name) {
  bool on = false;
  for (const ScannedOption& option : options) {
    if (option.name == name) on = SwitchValue(option);
  }
  return on;
}

std::string Value(const std::vector<ScannedOption>& options, absl::string_view name) {
  std::string value;
  for (const ScannedOption& option : options) {
    if (option.name == name) value = option.value;
  }
  return value;
}

bool Contains(const std::vector<std::string>& list, const std::string& item) {
  for (const std::string& entry : list) {
    if (entry == item) return true;
  }
  return false;
}

// `PROG [GLOBAL] exec|run [OPTS] [--] IMAGE ARGS`, cut into its parts.
struct ActionLine {
  std::string program;     // "apptainer" or "singularity"
  std::string subcommand;  // "exec" or "run"
  size_t subcommand_at = 0;
  std::vector<ScannedOption> options;
  size_t insert_at = 0;  // where our options go: before "--" or the image
  size_t image = 0;
  std::vector<std::string> command;  // the words after the image
  bool instance = false;             // instance://NAME: a running container
  bool oci = false;                  // --oci: the OCI runtime mode
};

// Scans options from argv[*i] up to the first word that is not one.
absl::Status ScanOptions(const std::vector<OptionSpec>& table, const std::string& program,
                         const std::vector<std::string>& argv, size_t* i,
                         std::vector<ScannedOption>* options) {
  while (*i < argv.size() && absl::StartsWith(argv[*i], "-") && argv[*i] != "-" &&
         argv[*i] != "--") {
    RETURN_IF_ERROR(ScanOption(table, program, argv, i, options));
  }
  return absl::OkStatus();
}

// The action line of `argv`, or nullopt (with a note in `unchanged`) when it
// starts no program: no subcommand, or one other than exec and run.
absl::StatusOr<std::optional<ActionLine>> ParseActionLine(Engine engine,
                                                          const std::vector<std::string>& argv,
                                                          Rewrite& unchanged) {
  ActionLine line;
  line.program = std::string(EngineName(engine));
  const std::string& program = line.program;
  size_t i = 1;
  std::vector<ScannedOption> global;
  RETURN_IF_ERROR(ScanOptions(GlobalOptions(), program, argv, &i, &global));
  if (i >= argv.size()) return std::nullopt;
  line.subcommand = argv[i];
  if (line.subcommand != "exec" && line.subcommand != "run") {
    unchanged.notes.push_back(absl::StrCat(program, " ", line.subcommand,
                                           " is left as is: only exec and run start a rank's "
                                           "program (pmi-bridge env --for ",
                                           program, " lists the flags to add by hand)"));
    return std::nullopt;
  }
  line.subcommand_at = i++;
  RETURN_IF_ERROR(ScanOptions(ActionOptions(), program, argv, &i, &line.options));
  line.insert_at = i;
  if (i < argv.size() && argv[i] == "--") ++i;  // pflag: the image follows
  if (i >= argv.size()) {
    return absl::InvalidArgumentError(
        absl::StrCat(program, " ", line.subcommand, ": no image on the command line"));
  }
  line.image = i;
  const std::string& image = argv[line.image];
  line.command.assign(argv.begin() + line.image + 1, argv.end());
  if (line.subcommand == "exec" && line.command.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat(program, " exec ", image, ": no command to run in the container"));
  }
  line.instance = absl::StartsWith(image, "instance://");
  line.oci = Has(line.options, "oci");
  if (line.subcommand == "run" && line.oci) {
    return absl::InvalidArgumentError(
        absl::StrCat(program,
                     " run --oci: the OCI image's entrypoint is not known to pmi-bridge, so "
                     "pmi-shim-client cannot be put in front of it; use '",
                     program, " exec --oci IMAGE COMMAND' instead"));
  }
  return line;
}

// The --bind options for the rank and tools directories, unless the command
// line binds them already. Apptainer splits --bind at ',' and ':', so paths
// holding them cannot be expressed.
absl::Status AddBinds(const ActionLine& line, const std::string& image,
                      const EngineContext& context, std::vector<std::string>& added,
                      Rewrite& rewrite) {
  const std::string& program = line.program;
  const std::vector<std::string> bound = BindDestinations(line.options);
  const std::string rank_dir = WithoutTrailingSlash(context.rank_dir);
  const std::string tools_target = rendezvous::kContainerToolsDir;
  if (line.instance) {
    rewrite.notes.push_back(absl::StrCat(
        image,
        " is a running instance, which cannot take new binds: it must have been started "
        "with the rank directories' parent (or /tmp, shared by default) and ",
        context.tools_dir.empty() ? std::string("pmi-shim's tools") : context.tools_dir, " at ",
        tools_target, " bound; only the environment and the client were added"));
    return absl::OkStatus();
  }
  if (Contains(bound, rank_dir)) {
    rewrite.notes.push_back(absl::StrCat(rank_dir, " is already bound by the command line"));
  } else {
    RETURN_IF_ERROR(CheckBindablePath(program, "rank directory", rank_dir, ",:"));
    added.insert(added.end(), {"--bind", rank_dir});
  }
  if (Contains(bound, tools_target)) {
    rewrite.notes.push_back(
        absl::StrCat(tools_target, " is already bound by the command line; not adding it"));
  } else if (context.tools_dir.empty()) {
    rewrite.notes.push_back(absl::StrCat(
        "no tools directory: ", tools_target,
        " must come from a site-wide 'bind path' in apptainer.conf (ignored under --contain)"));
  } else {
    RETURN_IF_ERROR(CheckBindablePath(program, "tools directory", context.tools_dir, ",:"));
    added.insert(added.end(), {"--bind", absl::StrCat(WithoutTrailingSlash(context.tools_dir), ":",
                                                      tools_target, ":ro")});
    // Unlike ch-run, Apptainer makes a missing mount point itself (in an
    // underlay or overlay layer), unless the site turned both off.
    if (context.image.has_value() && !context.image->Has(tools_target)) {
      rewrite.notes.push_back(absl::StrCat(
          context.image->image, " has no ", tools_target, ": ", program,
          " creates the mount point when 'enable underlay' or 'enable overlay' is on (the "
          "defaults); where a site turned both off, mkdir ",
          tools_target, " in the image"));
    }
  }
  return absl::OkStatus();
}

// --env (Apptainer 1.0, Singularity 3.6) is kept by --cleanenv and
// --containall, unlike the host environment; it splits at ','.
absl::Status AddEnvironment(const ActionLine& line, const EngineContext& context,
                            std::vector<std::string>& added, Rewrite& rewrite) {
  for (const auto& [key, value] : context.env) {
    RETURN_IF_ERROR(CheckBindablePath(line.program, absl::StrCat("value of ", key), value, ","));
    added.insert(added.end(), {"--env", absl::StrCat(key, "=", value)});
  }
  const auto has = [&line](absl::string_view name) { return Has(line.options, name); };
  if (has("cleanenv") || has("containall") || has("compat") || line.oci) {
    rewrite.notes.push_back(
        "the host environment does not reach this container (--cleanenv, --containall, "
        "--compat or --oci): PMI_SHIM_DIR is passed with --env, which they keep");
  }
  if (has("contain") || has("containall") || has("compat") || line.oci) {
    rewrite.notes.push_back(
        "this container has a private /tmp: the rank directory is bound explicitly; MPI "
        "shared memory between ranks may still need /dev/shm and the host IPC namespace");
  }
  return absl::OkStatus();
}

// The container side: the client in front of the command (for run, in front
// of what run would start).
absl::StatusOr<std::vector<std::string>> ContainerCommand(const ActionLine& line,
                                                          const std::string& image,
                                                          Rewrite& rewrite) {
  std::vector<std::string> inside = ClientPrefix();
  std::vector<std::string> command = line.command;
  if (line.subcommand == "run") {
    inside.push_back(RunscriptPath(Value(line.options, "app")));
    rewrite.notes.push_back(absl::StrCat(
        "run became exec of ", inside.back(),
        " (what run starts) so that pmi-shim-client can come first; the arguments follow it"));
  } else if (command.front() == "--") {
    // The exec action runs `exec "$@"`, for which a leading "--" only ends
    // the shell's options: the program is the word after it.
    command.erase(command.begin());
    rewrite.notes.push_back(
        "the '--' before the container command was dropped (the shell's "
        "exec, which apptainer runs it with, ignores it too)");
    if (command.empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat(line.program, " exec ", image, " --: no command after '--'"));
    }
  }
  inside.insert(inside.end(), command.begin(), command.end());
  return inside;
}

}  // namespace

std::optional<std::string> ApptainerImage(const std::vector<std::string>& argv) {
  Rewrite unused;
  absl::StatusOr<std::optional<ActionLine>> line =
      ParseActionLine(Engine::kApptainer, argv, unused);
  if (!line.ok() || !line->has_value() || (*line)->instance) return std::nullopt;
  return argv[(*line)->image];
}

absl::StatusOr<Rewrite> RewriteApptainer(Engine engine, const std::vector<std::string>& argv,
                                         const EngineContext& context) {
  Rewrite unchanged{Engine::kNone, argv, {}};
  ASSIGN_OR_RETURN(std::optional<ActionLine> line, ParseActionLine(engine, argv, unchanged));
  if (!line.has_value()) return unchanged;
  const std::string& image = argv[line->image];
  Rewrite rewrite;
  rewrite.engine = engine;
  std::vector<std::string> added;
  RETURN_IF_ERROR(AddBinds(*line, image, context, added, rewrite));
  RETURN_IF_ERROR(AddEnvironment(*line, context, added, rewrite));
  ASSIGN_OR_RETURN(std::vector<std::string> inside, ContainerCommand(*line, image, rewrite));

  // PROG [GLOBAL] exec [OPTS] ADDED [--] IMAGE CLIENT... COMMAND...
  rewrite.argv.assign(argv.begin(), argv.begin() + line->insert_at);
  rewrite.argv[line->subcommand_at] = "exec";
  rewrite.argv.insert(rewrite.argv.end(), added.begin(), added.end());
  rewrite.argv.insert(rewrite.argv.end(), argv.begin() + line->insert_at,
                      argv.begin() + line->image + 1);
  rewrite.argv.insert(rewrite.argv.end(), inside.begin(), inside.end());
  return rewrite;
}

}  // namespace pmi_shim::engines::internal
