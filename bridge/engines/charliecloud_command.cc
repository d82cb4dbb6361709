// Charliecloud: `ch-run [OPTS] IMAGE -- CMD [ARG...]` (0.31). ch-run keeps
// the host environment (less what --unset-env removes), so PMI_SHIM_DIR
// passes through; binds need their destination inside the image unless
// --write lets ch-run create it.
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "bridge/engines/engine_command.h"
#include "bridge/engines/option_scanner.h"
#include "bridge/engines/rewriters.h"
#include "common/rendezvous.h"
#include "common/status_macros.h"

namespace pmi_shim::engines::internal {
namespace {

using A = OptionArg;

const std::vector<OptionSpec>& ChRunOptions() {
  static const auto* table = new std::vector<OptionSpec>{
      {"bind", 'b', A::kRequired},    {"cd", 'c', A::kRequired},
      {"gid", 'g', A::kRequired},     {"mount", 'm', A::kRequired},
      {"storage", 's', A::kRequired}, {"uid", 'u', A::kRequired},
      {"join-ct", 0, A::kRequired},   {"join-pid", 0, A::kRequired},
      {"join-tag", 0, A::kRequired},  {"unset-env", 0, A::kRequired},
      {"feature", 0, A::kRequired},   {"set-env", 0, A::kEqualsOnly},
      {"ch-ssh", 0, A::kNone},        {"env-no-expand", 0, A::kNone},
      {"home", 0, A::kNone},          {"join", 'j', A::kNone},
      {"no-home", 0, A::kNone},       {"no-passwd", 0, A::kNone},
      {"private-tmp", 't', A::kNone}, {"unsafe", 0, A::kNone},
      {"verbose", 'v', A::kNone},     {"write", 'w', A::kNone},
      {"help", '?', A::kNone},        {"usage", 0, A::kNone},
      {"version", 'V', A::kNone},     {"quiet", 'q', A::kNone},
  };
  return *table;
}

bool Named(const std::vector<ScannedOption>& options, absl::string_view name) {
  for (const ScannedOption& option : options) {
    if (option.name == name) return true;
  }
  return false;
}

// -b SRC[:DST]: DST defaults to SRC.
std::vector<std::string> BindDestinations(const std::vector<ScannedOption>& options) {
  std::vector<std::string> destinations;
  for (const ScannedOption& option : options) {
    if (option.name != "bind") continue;
    const size_t colon = option.value.find(':');
    destinations.push_back(WithoutTrailingSlash(
        colon == std::string::npos ? option.value : option.value.substr(colon + 1)));
  }
  return destinations;
}

constexpr char kProgram[] = "ch-run";

// `ch-run [OPTS] IMAGE [OPTS] [--] CMD...`, cut into its parts.
struct ChRunLine {
  std::vector<ScannedOption> options;
  size_t image = 0;
  size_t options_end = 0;  // after the image's trailing options, at "--" or CMD
  size_t command_at = 0;
};

absl::StatusOr<ChRunLine> ParseChRunLine(const std::vector<std::string>& argv) {
  ChRunLine line;
  size_t i = 1;
  // argp permutes: options may also follow the image, up to "--".
  while (i < argv.size() && argv[i] != "--") {
    if (absl::StartsWith(argv[i], "-") && argv[i] != "-") {
      RETURN_IF_ERROR(ScanOption(ChRunOptions(), kProgram, argv, &i, &line.options));
    } else if (line.image == 0) {
      line.image = i++;
    } else {
      break;  // `ch-run IMAGE CMD...` without "--"
    }
  }
  if (line.image == 0) {
    return absl::InvalidArgumentError("ch-run: no image on the command line");
  }
  line.options_end = i;
  line.command_at = (i < argv.size() && argv[i] == "--") ? i + 1 : i;
  if (line.command_at >= argv.size()) {
    return absl::InvalidArgumentError(
        absl::StrCat("ch-run ", argv[line.image], ": no command to run in the container"));
  }
  return line;
}

// What AddBinds decides on: the command line's binds and what is known of the image.
struct BindSituation {
  bool write;                              // -w: ch-run may make bind targets in the image
  std::vector<std::string> bound;          // destinations the command line binds already
  std::string rank_dir;                    // without a trailing slash
  std::string tools_target;                // where the container expects the tools
  const std::optional<ImageFacts>& facts;  // when the bridge could look into the image
  // ch-run shares the host's /tmp (or $TMPDIR) with the container, so a
  // directory there exists inside; elsewhere the image must have it.
  bool rank_dir_shared;

  bool AlreadyBound(const std::string& path) const {
    for (const std::string& destination : bound) {
      if (destination == path) return true;
    }
    return false;
  }
};

// The -b for the rank directory, or why ch-run could not bind it.
absl::Status AddRankDirBind(const BindSituation& binds, std::vector<std::string>& added,
                            Rewrite& rewrite) {
  const std::string& rank_dir = binds.rank_dir;
  if (binds.AlreadyBound(rank_dir)) {
    rewrite.notes.push_back(absl::StrCat(rank_dir, " is already bound by the command line"));
    return absl::OkStatus();
  }
  RETURN_IF_ERROR(CheckBindablePath(kProgram, "rank directory", rank_dir, ":"));
  const bool image_must_have_it = !binds.write && !binds.rank_dir_shared;
  if (image_must_have_it && binds.facts.has_value() && !binds.facts->Has(rank_dir)) {
    return absl::FailedPreconditionError(absl::StrCat(
        "ch-run binds only onto directories the image has, and ", binds.facts->image, " has no ",
        rank_dir, ": publish under /tmp (PMI_SHIM_RUNDIR=/tmp/pmi-shim-$UID), or add -w"));
  }
  added.insert(added.end(), {"-b", absl::StrCat(rank_dir, ":", rank_dir)});
  if (image_must_have_it && !binds.facts.has_value()) {
    rewrite.notes.push_back(
        absl::StrCat("ch-run binds only onto directories the image has: ", rank_dir,
                     " must exist in the image, or use a --publish-dir under /tmp, or add -w"));
  }
  return absl::OkStatus();
}

// Where the tools cannot be bound, the static client travels in the rank directory, which the
// container sees at the host path; sets `client` to it.
absl::Status CarryClientInRankDir(const BindSituation& binds, Rewrite& rewrite,
                                  std::string& client) {
  const std::string& rank_dir = binds.rank_dir;
  if (binds.AlreadyBound(rank_dir) || (!binds.rank_dir_shared && !binds.facts->Has(rank_dir))) {
    return absl::FailedPreconditionError(
        absl::StrCat("ch-run binds only onto directories the image has, and ", binds.facts->image,
                     " has no ", binds.tools_target, " for pmi-shim-client: mkdir ",
                     binds.tools_target, " in the image, add -w, or publish under /tmp"));
  }
  rewrite.carry_client_to = absl::StrCat(rank_dir, "/pmi-shim-client");
  client = rewrite.carry_client_to;
  rewrite.notes.push_back(absl::StrCat(binds.facts->image, " has no ", binds.tools_target,
                                       ": pmi-shim-client is carried in the rank directory (",
                                       client, ")"));
  return absl::OkStatus();
}

// The -b for the tools directory, or the note on where pmi-shim-client comes from instead;
// sets `client` to where the container finds it.
absl::Status AddToolsBind(const BindSituation& binds, const EngineContext& context,
                          std::vector<std::string>& added, Rewrite& rewrite, std::string& client) {
  const std::string& tools_target = binds.tools_target;
  client = kClientPath;
  if (binds.AlreadyBound(tools_target)) {
    rewrite.notes.push_back(
        absl::StrCat(tools_target, " is already bound by the command line; not adding it"));
    return absl::OkStatus();
  }
  if (context.tools_dir.empty()) {
    rewrite.notes.push_back(absl::StrCat("no tools directory: the image must provide ",
                                         tools_target, "/bin/pmi-shim-client"));
    return absl::OkStatus();
  }
  if (!binds.write && binds.facts.has_value() && !binds.facts->Has(tools_target)) {
    return CarryClientInRankDir(binds, rewrite, client);
  }
  RETURN_IF_ERROR(CheckBindablePath(kProgram, "tools directory", context.tools_dir, ":"));
  added.insert(added.end(),
               {"-b", absl::StrCat(WithoutTrailingSlash(context.tools_dir), ":", tools_target)});
  if (!binds.write && !binds.facts.has_value()) {
    rewrite.notes.push_back(absl::StrCat("the image must contain an empty ", tools_target,
                                         " directory (mkdir it when building), or add -w"));
  }
  return absl::OkStatus();
}

// The -b options for the rank and tools directories, unless the command
// line binds them already, with what the image must hold for them. ch-run
// binds only onto directories the image has (unless -w lets it make them):
// when the bridge could look into the image (context.image) it knows, and
// where the tools cannot be bound the static client travels in the rank
// directory; otherwise the notes say what the image must have. `client` is
// where the container finds pmi-shim-client.
absl::Status AddBinds(const ChRunLine& line, const EngineContext& context,
                      std::vector<std::string>& added, Rewrite& rewrite, std::string& client) {
  const std::string rank_dir = WithoutTrailingSlash(context.rank_dir);
  const BindSituation binds{Named(line.options, "write"),
                            BindDestinations(line.options),
                            rank_dir,
                            rendezvous::kContainerToolsDir,
                            context.image,
                            absl::StartsWith(rank_dir, "/tmp/")};
  RETURN_IF_ERROR(AddRankDirBind(binds, added, rewrite));
  return AddToolsBind(binds, context, added, rewrite, client);
}

// --set-env and --unset-env apply in command-line order: only when the
// user unsets variables do ours need restating after theirs.
absl::Status AddEnvironment(const ChRunLine& line, const EngineContext& context,
                            std::vector<std::string>& added, Rewrite& rewrite) {
  if (!Named(line.options, "unset-env")) return absl::OkStatus();
  for (const auto& [key, value] : context.env) {
    if (value.find('$') != std::string::npos) {
      return absl::InvalidArgumentError(absl::StrCat("ch-run --set-env would expand the '$' in ",
                                                     key, "=", value,
                                                     "; choose a path without '$'"));
    }
    added.push_back(absl::StrCat("--set-env=", key, "=", value));
  }
  rewrite.notes.push_back("--unset-env given: pmi-shim's variables are set again with --set-env");
  return absl::OkStatus();
}

// What --join and -t mean for the rank directory.
void NoteSharing(const ChRunLine& line, const EngineContext& context, Rewrite& rewrite) {
  const std::vector<ScannedOption>& options = line.options;
  if (Named(options, "join") || Named(options, "join-ct") || Named(options, "join-tag") ||
      Named(options, "join-pid")) {
    rewrite.notes.push_back(
        "--join: only the first ch-run of the group sets up the container's mounts, so the other "
        "ranks see their rank directory only through the shared /tmp: keep --publish-dir under "
        "/tmp and do not add -t");
  }
  if (Named(options, "private-tmp") &&
      absl::StartsWith(WithoutTrailingSlash(context.rank_dir), "/tmp/")) {
    rewrite.notes.push_back(
        "-t gives the container a private /tmp: the rank directory is bound "
        "into it explicitly");
  }
}

}  // namespace

std::optional<std::string> CharliecloudImage(const std::vector<std::string>& argv) {
  absl::StatusOr<ChRunLine> line = ParseChRunLine(argv);
  if (!line.ok()) return std::nullopt;
  return argv[line->image];
}

absl::StatusOr<Rewrite> RewriteCharliecloud(const std::vector<std::string>& argv,
                                            const EngineContext& context) {
  ASSIGN_OR_RETURN(ChRunLine line, ParseChRunLine(argv));
  Rewrite rewrite;
  rewrite.engine = Engine::kCharliecloud;
  std::vector<std::string> added;
  std::string client;
  RETURN_IF_ERROR(AddBinds(line, context, added, rewrite, client));
  RETURN_IF_ERROR(AddEnvironment(line, context, added, rewrite));
  NoteSharing(line, context, rewrite);

  // ch-run [OPTS] ADDED IMAGE [OPTS] -- CLIENT... CMD...
  std::vector<std::string> out(argv.begin(), argv.begin() + line.image);
  out.insert(out.end(), added.begin(), added.end());
  // Options after the image (argp permutation) stay where they were.
  out.insert(out.end(), argv.begin() + line.image, argv.begin() + line.options_end);
  out.push_back("--");
  out.insert(out.end(), {client, "exec", "--"});
  out.insert(out.end(), argv.begin() + line.command_at, argv.end());
  rewrite.argv = std::move(out);
  return rewrite;
}

}  // namespace pmi_shim::engines::internal
