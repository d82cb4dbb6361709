// A simulated cluster for multi-node end-to-end tests; see simulated_cluster.h.
#include "test/testing/simulated_cluster.h"

#include <stdlib.h>
#include <unistd.h>

#include <cerrno>
#include <filesystem>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "test/testing/files.h"
#include "test/testing/runfiles.h"

namespace pmi_shim::testutil {
namespace {

constexpr char kScript[] = "test/testing/cluster-ns.sh";

// 'word' with single quotes, safe inside a bash -c string.
std::string ShellQuote(const std::string& word) {
  std::string quoted = "'";
  for (char c : word) {
    if (c == '\'') {
      quoted += "'\\''";
    } else {
      quoted += c;
    }
  }
  return quoted + "'";
}

}  // namespace

absl::Status SimulatedClusterAvailability() {
  if (::geteuid() != 0) return absl::FailedPreconditionError("a simulated cluster needs root");
  for (const char* program : {"/usr/bin/unshare", "/usr/bin/nsenter", "/usr/sbin/ip"}) {
    if (::access(program, X_OK) != 0 &&
        ::access(absl::StrCat("/bin/", std::filesystem::path(program).filename().string()).c_str(),
                 X_OK) != 0) {
      return absl::NotFoundError(absl::StrCat(program, " not found (util-linux, iproute2)"));
    }
  }
  return absl::OkStatus();
}

std::string ClusterRun::Describe() const {
  std::string text = run.Describe();
  if (stalled) absl::StrAppend(&text, "\n--- stalled; stacks ---\n", stacks);
  if (!leftovers.empty()) {
    absl::StrAppend(&text, "\n--- left running on the nodes ---\n", absl::StrJoin(leftovers, "\n"));
  }
  return text;
}

absl::StatusOr<ClusterRun> RunOnSimulatedCluster(const ClusterOptions& options) {
  absl::StatusOr<std::string> script = Runfile(kScript);
  if (!script.ok()) return script.status();
  if (options.command.empty())
    return absl::InvalidArgumentError("no command to run on the cluster");
  char work_template[] = "/tmp/pmi-shim-cluster-XXXXXX";
  if (::mkdtemp(work_template) == nullptr) {
    return absl::ErrnoToStatus(errno, "mkdtemp /tmp/pmi-shim-cluster-XXXXXX");
  }
  const std::string work = work_template;

  RunOptions run_options;
  run_options.argv = {"unshare",      "--net",
                      "--mount",      "--uts",
                      "--ipc",        "--pid",
                      "--fork",       "--kill-child",
                      "--mount-proc", "--",
                      "bash",         *script,
                      work,           absl::StrCat(options.nodes)};
  run_options.argv.insert(run_options.argv.end(), options.command.begin(), options.command.end());
  run_options.env = options.env;
  if (options.stall_after.has_value()) {
    run_options.env.emplace_back("CLUSTER_STALL_SECONDS",
                                 absl::StrCat(absl::ToInt64Seconds(*options.stall_after)));
    run_options.env.emplace_back("CLUSTER_STACKS_OF", options.stacks_of);
  }
  // The test's own launcher must not leak its job into the cluster's.
  run_options.unset_env = OuterLauncherVariables();
  for (const char* slurm : {"SLURM_JOB_ID", "SLURM_JOBID", "SLURM_CONF"}) {
    run_options.unset_env.push_back(slurm);
  }
  run_options.timeout = options.timeout;
  absl::StatusOr<RunResult> run = RunSubprocess(run_options);
  if (!run.ok()) return run.status();

  ClusterRun out;
  out.run = *std::move(run);
  for (absl::string_view line :
       absl::StrSplit(ReadFile(work + "/leftovers"), '\n', absl::SkipEmpty())) {
    out.leftovers.emplace_back(line);
  }
  out.stalled = std::filesystem::exists(work + "/stalled");
  out.stacks = ReadFile(work + "/stacks");
  std::error_code ignored;
  std::filesystem::remove_all(work, ignored);
  return out;
}

StallKind ClassifyStall(absl::string_view stacks, int ranks) {
  int in_finalize = 0, disconnecting = 0, in_barrier = 0;
  for (absl::string_view process : absl::StrSplit(stacks, "=== pid ", absl::SkipEmpty())) {
    if (!absl::StrContains(process, "PMPI_Finalize")) continue;  // not a rank (a bridge, bash)
    ++in_finalize;
    // The main thread's innermost frames tell where Finalize is stuck.
    const size_t main_thread = process.find("Thread 1 ");
    absl::string_view frames =
        process.substr(main_thread == absl::string_view::npos ? 0 : main_thread);
    const size_t finalize = frames.find("PMPI_Finalize");
    absl::string_view inner = frames.substr(0, finalize);
    if (absl::StrContains(inner, "ucp_worker_progress")) {
      ++disconnecting;
    } else if (absl::StrContains(inner, "__libc_read") || absl::StrContains(inner, " read (")) {
      ++in_barrier;
    }
  }
  if (in_finalize == ranks && disconnecting > 0 && in_barrier > 0 &&
      disconnecting + in_barrier == ranks) {
    return StallKind::kMpichUcxFinalizeDeadlock;
  }
  return StallKind::kUnknown;
}

std::vector<std::string> ClusterLaunch(Launcher launcher, int nodes, int ranks_per_node,
                                       const std::vector<std::string>& program) {
  JobSpec spec;
  spec.launcher = launcher;
  spec.ranks = nodes * ranks_per_node;
  for (int node = 1; node <= nodes; ++node) {
    spec.hosts.push_back(absl::StrCat("node", node, ":", ranks_per_node));
  }
  // The ssh stand-in's path is known on node1 only, in its environment.
  const std::string rsh = absl::StrCat("\"$", kClusterRshVar, "\"");
  spec.rsh_agent = rsh;
  spec.command = program;
  absl::StatusOr<std::vector<std::string>> argv = LauncherArgv(spec);
  if (!argv.ok()) {  // a launcher that cannot span nodes: the run says why
    return {
        "sh", "-c",
        absl::StrCat("echo ", ShellQuote(std::string(argv.status().message())), " >&2; exit 2")};
  }
  std::vector<std::string> words;
  for (const std::string& word : *argv) words.push_back(word == rsh ? word : ShellQuote(word));
  return {"bash", "-c", absl::StrCat("exec ", absl::StrJoin(words, " "))};
}

}  // namespace pmi_shim::testutil
