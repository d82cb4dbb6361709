// Launcher command lines and the job runner; see launcher.h.
#include "test/testing/launcher.h"

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace pmi_shim::testutil {
namespace {

void Append(std::vector<std::string>& argv, const std::vector<std::string>& more) {
  argv.insert(argv.end(), more.begin(), more.end());
}

std::string Joined(const std::vector<std::string>& hosts) { return absl::StrJoin(hosts, ","); }

std::vector<std::string> HydraArgv(const JobSpec& spec) {
  std::vector<std::string> argv = {spec.program.empty() ? kHydraProgram : spec.program};
  if (spec.mode == PmiMode::kPort) argv.push_back("-pmi-port");
  if (!spec.hosts.empty()) Append(argv, {"-hosts", Joined(spec.hosts)});
  if (!spec.rsh_agent.empty()) Append(argv, {"-launcher", "ssh", "-launcher-exec", spec.rsh_agent});
  Append(argv, spec.launcher_flags);
  Append(argv, {"-n", absl::StrCat(spec.ranks)});
  return argv;
}

// As root (the suite's containers need it) and with more ranks than cores.
std::vector<std::string> OpenMpiArgv(const JobSpec& spec) {
  std::vector<std::string> argv = {spec.program.empty() ? kOpenMpiProgram : spec.program,
                                   "--allow-run-as-root"};
  if (spec.hosts.empty()) {
    // One node, Open MPI's own transports; 4 ranks on 2 cores need
    // oversubscribing.
    Append(argv, {"--oversubscribe"});
  } else {
    Append(argv, {"--host", Joined(spec.hosts)});  // NAME:SLOTS gives the slots
  }
  if (!spec.rsh_agent.empty()) Append(argv, {"--mca", "plm_rsh_agent", spec.rsh_agent});
  Append(argv, spec.launcher_flags);
  Append(argv, {"-n", absl::StrCat(spec.ranks)});
  return argv;
}

std::vector<std::string> SrunArgv(const JobSpec& spec) {
  std::vector<std::string> argv = {spec.program.empty() ? "srun" : spec.program, "-n",
                                   absl::StrCat(spec.ranks), absl::StrCat("--mpi=", spec.srun_mpi)};
  if (!spec.hosts.empty()) {
    std::vector<std::string> names;
    for (const std::string& host : spec.hosts) {
      names.push_back(host.substr(0, host.find(':')));
    }
    Append(argv,
           {absl::StrCat("--nodes=", names.size()), absl::StrCat("--nodelist=", Joined(names))});
  }
  Append(argv, spec.launcher_flags);
  return argv;
}

std::vector<std::string> BridgeLaunchArgv(const JobSpec& spec) {
  std::vector<std::string> argv = {spec.program.empty() ? BridgePath() : spec.program, "launch",
                                   "-n", absl::StrCat(spec.ranks)};
  if (spec.mode == PmiMode::kPort) argv.push_back("--pmi-port");
  Append(argv, spec.launcher_flags);
  argv.push_back("--");
  return argv;
}

}  // namespace

std::string ModeName(PmiMode mode) { return mode == PmiMode::kFd ? "fd" : "port"; }

void PrintTo(PmiMode mode, std::ostream* os) { *os << ModeName(mode); }

absl::StatusOr<std::vector<std::string>> LauncherArgv(const JobSpec& spec) {
  std::vector<std::string> argv;
  switch (spec.launcher) {
    case Launcher::kHydra:
      argv = HydraArgv(spec);
      break;
    case Launcher::kOpenMpi:
      argv = OpenMpiArgv(spec);
      break;
    case Launcher::kSrun:
      argv = SrunArgv(spec);
      break;
    case Launcher::kBridgeLaunch:
      if (!spec.hosts.empty() || !spec.rsh_agent.empty()) {
        return absl::InvalidArgumentError(
            "pmi-bridge launch runs every rank on this machine: no hosts, no rsh agent");
      }
      argv = BridgeLaunchArgv(spec);
      break;
    case Launcher::kNone:
      break;
  }
  Append(argv, spec.command);
  return argv;
}

std::vector<std::string> BridgeExec(const std::vector<std::string>& flags,
                                    const std::vector<std::string>& command,
                                    const std::string& bridge) {
  std::vector<std::string> argv = {bridge, "exec"};
  Append(argv, flags);
  argv.push_back("--");
  Append(argv, command);
  return argv;
}

const std::vector<std::string>& OuterLauncherVariables() {
  static const auto* const kVariables =
      new std::vector<std::string>{"PMI_FD",           "PMI_PORT",         "PMI_ID",
                                   "PMI_RANK",         "PMI_SIZE",         "PMIX_NAMESPACE",
                                   "PMIX_RANK",        "PMIX_SERVER_URI2", "PMIX_SERVER_URI21",
                                   "PMIX_SERVER_URI3", "PMIX_SERVER_URI4", "PMIX_SERVER_URI41",
                                   "PMI_SHIM_DIR"};
  return *kVariables;
}

std::string JobResult::Describe() const {
  std::string text = run.Describe();
  for (const ProcessInfo& p : leftovers) {
    absl::StrAppend(&text, "\nleft behind: pid ", p.pid, ": ", p.CommandLine());
  }
  return text;
}

absl::StatusOr<RunOptions> JobRunOptions(const JobSpec& spec, const std::string& marker) {
  absl::StatusOr<std::vector<std::string>> argv = LauncherArgv(spec);
  if (!argv.ok()) return argv.status();
  RunOptions options;
  options.argv = *std::move(argv);
  options.env = spec.env;
  options.env.emplace_back(kMarkerVar, marker);
  options.unset_env = OuterLauncherVariables();
  Append(options.unset_env, spec.unset_env);
  options.timeout = spec.timeout;
  options.signal_after = spec.signal_after;
  options.signal = spec.signal;
  return options;
}

absl::StatusOr<JobResult> RunJob(const JobSpec& spec) {
  if (spec.launcher == Launcher::kSrun) {
    return absl::InvalidArgumentError(
        "srun needs the private Slurm: run LauncherArgv(spec) with RunInSlurmCluster");
  }
  const std::string marker = spec.marker.empty() ? UniqueMarkerValue() : spec.marker;
  absl::StatusOr<RunOptions> options = JobRunOptions(spec, marker);
  if (!options.ok()) return options.status();
  absl::StatusOr<RunResult> run = RunSubprocess(*options);
  if (!run.ok()) return run.status();
  JobResult result;
  result.run = *std::move(run);
  result.leftovers = CollectLeftovers(marker, spec.leftover_grace);
  return result;
}

}  // namespace pmi_shim::testutil
