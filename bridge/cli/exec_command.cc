#include "bridge/cli/exec_command.h"

#include <signal.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cstdlib>

#include <boost/program_options.hpp>
#include <iostream>

#include "absl/strings/str_cat.h"
#include "bridge/cli/command_line.h"
#include "bridge/engines/engine_command.h"
#include "bridge/engines/shell_words.h"
#include "bridge/exec/bridged_rank.h"
#include "bridge/exec/engine_image.h"
#include "bridge/exec/rank_directory.h"
#include "common/log.h"
#include "common/rendezvous.h"

namespace pmi_shim::cli {
namespace po = boost::program_options;

namespace {

constexpr char kUsage[] =
    "Usage: pmi-bridge exec [options] -- COMMAND [ARGS...]\n"
    "\n"
    "Run as a rank of a real launcher (mpiexec, srun, mpirun): connects to the\n"
    "launcher's PMI server, starts COMMAND with a PMI rendezvous of its own and\n"
    "translates between the two. Exits with COMMAND's status.\n"
    "\n"
    "A rank directory is published for every COMMAND (PMI_SHIM_DIR), so a container\n"
    "started by COMMAND, directly or through a wrapper script, finds the rank with\n"
    "pmi-shim-client; it offers PMI and PMIx, and the client takes what the image's\n"
    "program links. A bare program still gets its PMI_FD or PMIx environment.\n"
    "\n"
    "A PMIx program under a PMI-1/PMI-2 launcher (or a container's PMIx client,\n"
    "when it asks) is served by its node's PMIx server (pmi-bridge node-server),\n"
    "one per node and job: the node's first bridge starts it under the publish\n"
    "directory (see --publish-dir), the others join it, so a node's ranks are\n"
    "local peers as the launcher placed them.\n";

struct ParsedExec {
  exec::ExecOptions options;
  std::string upstream = "auto";
  std::string downstream = "auto";
  std::string log_file;
  bool publish = false;
  bool no_publish = false;
  bool dry_run = false;
  int verbose = 0;
};

po::options_description ExecOptionsDescription(ParsedExec& parsed) {
  po::options_description description("Options");
  description.add_options()(
      "upstream", po::value<std::string>(&parsed.upstream),
      "the host server's protocol: auto|pmi1|pmi2|pmix (auto: from the environment; "
      "PMI-1 for a PMI_FD/PMI_PORT host)")(
      "downstream", po::value<std::string>(&parsed.downstream),
      "what COMMAND's client speaks: auto|pmi1|pmi2|pmix|pmix1 (auto: PMIx for a program that "
      "links Open MPI or libpmix, the native PMIx v1.2 usock endpoint (pmix1) for one that links "
      "libpmix 1.x or Open MPI 2.x (or whose named image has libpmix 1.x), PMI for one that links "
      "MPICH or libpmi2; for anything else the rank directory offers both, pmi-shim-client picks "
      "by the image's program, and COMMAND itself gets the host's family; PMI-1 and PMI-2 are "
      "told apart by the client's first line). A named family is the only one served")(
      "publish", po::bool_switch(&parsed.publish),
      "fail if the rank directory cannot be made (it is published by default: a rank socket, "
      "a PMIx socket and an env file, exported as PMI_SHIM_DIR, for pmi-shim-client inside "
      "any container COMMAND starts, directly or through a wrapper)")(
      "no-publish", po::bool_switch(&parsed.no_publish),
      "publish nothing: hand COMMAND a PMI_FD or PMIx environment only, even when it is a "
      "container engine")(
      "publish-dir", po::value<std::string>(&parsed.options.publish_root),
      "where rank directories go (failing to make one is then an error; default "
      "$PMI_SHIM_RUNDIR, else /run/pmi-shim for root, /tmp/pmi-shim-UID for others)")(
      "tools-dir", po::value<std::string>(&parsed.options.tools_dir),
      "host directory with bin/pmi-shim-client, bound at /opt/pmi-shim by Apptainer, "
      "Singularity and ch-run (default: PREFIX/libexec/pmi-shim next to this program)")(
      "dry-run", po::bool_switch(&parsed.dry_run),
      "print the command this rank would run (after the container engine rewrite) and exit")(
      "trace", po::value<std::string>(&parsed.options.trace_file),
      "write a decoded transcript of COMMAND's PMI messages, the answers and the host "
      "exchange, with mismatches flagged, to FILE ('-': stderr; -vv also logs messages)")(
      "log-file", po::value<std::string>(&parsed.log_file), "append JSON-lines logs to FILE")(
      "verbose,v", po::value<int>(&parsed.verbose)->implicit_value(1)->zero_tokens(),
      "more output on stderr");
  return description;
}

std::string ApplyChoices(ParsedExec& parsed) {
  using upstream::UpstreamChoice;
  if (parsed.upstream == "auto") {
    parsed.options.upstream = UpstreamChoice::kAuto;
  } else if (parsed.upstream == "pmi1") {
    parsed.options.upstream = UpstreamChoice::kPmi1;
  } else if (parsed.upstream == "pmi2") {
    parsed.options.upstream = UpstreamChoice::kPmi2;
  } else if (parsed.upstream == "pmix") {
    parsed.options.upstream = UpstreamChoice::kPmix;
  } else {
    return absl::StrCat("--upstream ", parsed.upstream, " is not one of auto|pmi1|pmi2|pmix");
  }
  using exec::DownstreamChoice;
  if (parsed.downstream == "auto") {
    parsed.options.downstream = DownstreamChoice::kAuto;
  } else if (parsed.downstream == "pmi1") {
    parsed.options.downstream = DownstreamChoice::kPmi1;
  } else if (parsed.downstream == "pmi2") {
    parsed.options.downstream = DownstreamChoice::kPmi2;
  } else if (parsed.downstream == "pmix") {
    parsed.options.downstream = DownstreamChoice::kPmix;
  } else if (parsed.downstream == "pmix1" || parsed.downstream == "pmix-v1") {
    parsed.options.downstream = DownstreamChoice::kPmixV1;
  } else {
    return absl::StrCat("--downstream ", parsed.downstream,
                        " is not one of auto|pmi1|pmi2|pmix|pmix1");
  }
  if (parsed.publish && parsed.no_publish) return "--publish and --no-publish contradict";
  return "";
}

// Engines whose containers cannot inherit a PMI_FD or reach the host's
// loopback by default: their ranks get a published rank directory.
bool IsContainerEngine(const std::string& program) {
  const std::string name = program.substr(program.rfind('/') + 1);
  for (const char* engine : {"podman", "podman-hpc", "docker", "nerdctl", "runc", "crun", "ch-run",
                             "apptainer", "singularity"}) {
    if (name == engine) return true;
  }
  return false;
}

// Ends this process with the signal that killed the command, so the launcher
// above reports the rank as it would report the bare program ("signal 9").
void DieOfSignal(int signal) {
  const rlimit no_core{0, 0};
  ::setrlimit(RLIMIT_CORE, &no_core);  // the command's core, if any, was its own
  ::signal(signal, SIG_DFL);
  sigset_t just_this;
  sigemptyset(&just_this);
  sigaddset(&just_this, signal);
  ::sigprocmask(SIG_UNBLOCK, &just_this, nullptr);
  ::raise(signal);
}

// PREFIX/libexec/pmi-shim when this program is PREFIX/bin/pmi-bridge and
// the client is installed there (deploy/install.sh), else empty.
std::string DefaultToolsDir() {
  char self[4096] = {};
  const ssize_t n = ::readlink("/proc/self/exe", self, sizeof(self) - 1);
  if (n <= 0) return "";
  std::string prefix(self, n);
  for (int up = 0; up < 2; ++up) prefix = prefix.substr(0, prefix.rfind('/'));
  const std::string tools = absl::StrCat(prefix, "/libexec/pmi-shim");
  return ::access(absl::StrCat(tools, "/bin/pmi-shim-client").c_str(), X_OK) == 0 ? tools : "";
}

// What --dry-run shows: the rewrite with this rank's directory as it would
// be named (the real one exists only once the bridge has joined the job).
int PrintDryRun(const exec::ExecOptions& options) {
  const char* rank = std::getenv("PMI_RANK");
  if (rank == nullptr) rank = std::getenv("PMIX_RANK");
  const std::string root =
      options.publish_root.empty() ? exec::DefaultPublishRoot() : options.publish_root;
  const std::string rank_dir =
      absl::StrCat(root, "/JOB.", rank != nullptr ? rank : "0", ".", ::getpid());
  std::vector<std::string> argv = options.command;
  if (options.publish) {
    engines::EngineContext context{
        rank_dir, options.tools_dir, {{rendezvous::kDirVariable, rank_dir}}};
    context.image = exec::LookIntoImage(argv, context);
    absl::StatusOr<engines::Rewrite> rewrite = engines::RewriteEngineCommand(argv, context);
    if (!rewrite.ok()) {
      log::Error(absl::StrCat("exec: ", rewrite.status().message()));
      return kUsageError;
    }
    for (const std::string& note : rewrite->notes) std::cout << "# " << note << "\n";
    if (!rewrite->carry_client_to.empty()) {
      std::cout << "# copies " << options.tools_dir << "/bin/pmi-shim-client to "
                << rewrite->carry_client_to << "\n";
    }
    argv = rewrite->argv;
    std::cout << "# " << rendezvous::kDirVariable << "=" << rank_dir << "\n";
  }
  std::cout << engines::JoinShellWords(argv) << "\n";
  return 0;
}

}  // namespace

int RunExecCommand(const std::vector<std::string>& args) {
  SplitCommandLine split = SplitAtSeparator(args);
  ParsedExec parsed;
  po::options_description description = ExecOptionsDescription(parsed);
  if (std::optional<int> done = ParseVerbOptions("exec", split.options, description, kUsage)) {
    return *done;
  }
  if (!split.has_separator || split.command.empty()) {
    return UsageError("exec", "missing '-- COMMAND' after the options");
  }
  if (std::string problem = ApplyChoices(parsed); !problem.empty()) {
    return UsageError("exec", problem);
  }
  if (!parsed.log_file.empty()) {
    if (absl::Status opened = log::SetJsonFile(parsed.log_file); !opened.ok()) {
      return UsageError("exec", opened.message());
    }
  }
  log::SetVerbosity(parsed.verbose);
  parsed.options.trace = parsed.verbose >= 2;
  parsed.options.command = split.command;
  if (parsed.options.tools_dir.empty()) parsed.options.tools_dir = DefaultToolsDir();
  // ch-run binds only onto directories its image already has, and shares the
  // host's /tmp: a rank directory there needs no new mount point.
  if (parsed.options.publish_root.empty() && std::getenv("PMI_SHIM_RUNDIR") == nullptr &&
      engines::EngineOfProgram(split.command.front()) == engines::Engine::kCharliecloud) {
    parsed.options.publish_root = absl::StrCat("/tmp/pmi-shim-", ::getuid());
  }
  // Published by default, whatever COMMAND is: a wrapper (podman-hpc,
  // sarus, enroot, shifter, a site script around runc or podman) cannot be
  // told from a bare program, and a PMI_FD copied into a container is a
  // dead number there. A bare program still gets its PMI_FD or PMIx
  // environment directly; only a known engine gets the directory alone.
  parsed.options.command_is_engine = IsContainerEngine(split.command.front());
  parsed.options.publish = !parsed.no_publish;
  parsed.options.publish_required = parsed.publish || !parsed.options.publish_root.empty();
  if (parsed.dry_run) return PrintDryRun(parsed.options);
  absl::StatusOr<int> status;
  std::optional<int> command_signal;
  {
    exec::BridgedRank bridge(std::move(parsed.options));
    status = bridge.Run();
    command_signal = bridge.command_signal();
  }  // the bridge restores the signal mask as it goes
  if (!status.ok()) {
    log::Error(absl::StrCat("exec: ", status.status().message()));
    return 127;
  }
  if (command_signal.has_value()) DieOfSignal(*command_signal);
  return *status;
}

}  // namespace pmi_shim::cli
