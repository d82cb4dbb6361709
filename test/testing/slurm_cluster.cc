// A private single-node Slurm for end-to-end tests; see slurm_cluster.h.
#include "test/testing/slurm_cluster.h"

#include <stdlib.h>
#include <unistd.h>

#include <cerrno>
#include <filesystem>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "test/testing/files.h"
#include "test/testing/processes.h"
#include "test/testing/runfiles.h"

namespace pmi_shim::testutil {
namespace {

constexpr char kScript[] = "test/testing/slurm-ns.sh";
constexpr char kPmi2Plugin[] = "/usr/lib/x86_64-linux-gnu/slurm-wlm/mpi_pmi2.so";
constexpr int kLogTailLines = 15;

// Full path of `name` on PATH (plus the sbin directories, where the daemons
// live even when PATH lacks them), or "".
std::string FindProgram(const std::string& name) {
  std::string path = getenv("PATH") != nullptr ? getenv("PATH") : "";
  path += ":/usr/sbin:/sbin";
  for (absl::string_view dir : absl::StrSplit(path, ':', absl::SkipEmpty())) {
    std::string candidate = absl::StrCat(dir, "/", name);
    if (access(candidate.c_str(), X_OK) == 0) return candidate;
  }
  return "";
}

std::string Tail(const std::string& text, int lines) {
  size_t pos = text.size();
  if (pos > 0 && text[pos - 1] == '\n') --pos;
  for (int i = 0; i < lines && pos != std::string::npos && pos > 0; ++i) {
    pos = text.rfind('\n', pos - 1);
  }
  return pos == std::string::npos ? text : text.substr(pos + 1);
}

// "ready=0.04\nstop=0.09\n" -> the two durations.
void ParseTimings(const std::string& text, SlurmRun& out) {
  for (absl::string_view line : absl::StrSplit(text, '\n', absl::SkipEmpty())) {
    std::pair<absl::string_view, absl::string_view> kv = absl::StrSplit(line, '=');
    double seconds = 0;
    // bc prints ".04" for 0.04, which SimpleAtod accepts.
    if (!absl::SimpleAtod(kv.second, &seconds)) continue;
    if (kv.first == "ready") out.ready_time = absl::Seconds(seconds);
    if (kv.first == "stop") out.stop_time = absl::Seconds(seconds);
  }
}

}  // namespace

absl::Status SlurmClusterAvailability() {
  if (geteuid() != 0) {
    return absl::FailedPreconditionError(
        "not root: a private Slurm needs new network, mount and pid namespaces");
  }
  for (const char* program : {"slurmctld", "slurmd", "srun", "sinfo", "unshare", "ip", "bc"}) {
    if (FindProgram(program).empty()) {
      return absl::FailedPreconditionError(
          absl::StrCat(program,
                       " not found (install slurmctld slurmd slurm-client util-linux "
                       "iproute2 bc)"));
    }
  }
  if (access(kPmi2Plugin, R_OK) != 0) {
    return absl::FailedPreconditionError(
        absl::StrCat(kPmi2Plugin, " missing (package slurm-wlm-basic-plugins)"));
  }
  // Bazel's linux-sandbox runs tests in a user namespace that denies
  // setgroups(), which both daemons call at start-up.
  std::string setgroups = ReadFile("/proc/self/setgroups");
  if (absl::StartsWith(setgroups, "deny")) {
    return absl::FailedPreconditionError(
        "setgroups() is denied in this user namespace (Bazel's linux-sandbox?), so slurmctld "
        "cannot start; the test target needs tags = [\"no-sandbox\"]");
  }
  absl::StatusOr<std::string> script = Runfile(kScript);
  if (!script.ok()) return script.status();
  return absl::OkStatus();
}

std::string SlurmRun::Describe() const {
  std::string text = run.Describe();
  absl::StrAppend(&text, "\ncluster started: ", cluster_started ? "yes" : "no");
  if (ready_time) absl::StrAppend(&text, ", ready after ", absl::FormatDuration(*ready_time));
  if (stop_time) absl::StrAppend(&text, ", stopped in ", absl::FormatDuration(*stop_time));
  if (!daemon_logs.empty()) absl::StrAppend(&text, "\n--- daemon logs ---\n", daemon_logs);
  return text;
}

absl::StatusOr<SlurmRun> RunInSlurmCluster(const SlurmRunOptions& options) {
  absl::StatusOr<std::string> script = Runfile(kScript);
  if (!script.ok()) return script.status();
  const std::string unshare = FindProgram("unshare");
  if (unshare.empty()) return absl::NotFoundError("unshare not found (package util-linux)");
  if (options.command.empty()) return absl::InvalidArgumentError("no command to run in Slurm");

  // Under /tmp, not TEST_TMPDIR: Slurm puts Unix sockets in its spool
  // directory and socket paths are limited to 107 bytes.
  char work_template[] = "/tmp/pmi-shim-slurm-XXXXXX";
  if (mkdtemp(work_template) == nullptr) {
    return absl::ErrnoToStatus(errno, "mkdtemp /tmp/pmi-shim-slurm-XXXXXX");
  }
  const std::string work = work_template;

  RunOptions run_options;
  run_options.argv = {unshare,
                      "--net",
                      "--mount",
                      "--uts",
                      "--pid",
                      "--fork",
                      "--kill-child",
                      "--mount-proc",
                      "--",
                      "bash",
                      *script,
                      work,
                      absl::StrCat(options.cpus)};
  run_options.argv.insert(run_options.argv.end(), options.command.begin(), options.command.end());
  const std::string marker = UniqueMarkerValue();
  run_options.env = options.env;
  run_options.env.emplace_back(kMarkerVar, marker);
  // Whatever launched the test must not leak its PMI or Slurm job into the
  // cluster (SLURM_JOB_ID would make srun join a job that does not exist).
  run_options.unset_env = {"PMI_FD",
                           "PMI_PORT",
                           "PMI_ID",
                           "PMI_RANK",
                           "PMI_SIZE",
                           "PMIX_NAMESPACE",
                           "PMIX_RANK",
                           "SLURM_JOB_ID",
                           "SLURM_JOBID",
                           "SLURM_STEP_ID",
                           "SLURM_CONF",
                           "SLURM_NODELIST",
                           "SLURM_JOB_NODELIST"};
  run_options.timeout = options.timeout;

  absl::StatusOr<RunResult> run = RunSubprocess(run_options);
  SlurmRun out;
  if (run.ok()) out.run = *std::move(run);

  out.leftovers_outside = CollectLeftovers(marker);

  const std::string timings = ReadFile(work + "/timings");
  ParseTimings(timings, out);
  out.cluster_started = out.ready_time.has_value();  // written just before the command
  for (absl::string_view line :
       absl::StrSplit(ReadFile(work + "/leftovers"), '\n', absl::SkipEmpty())) {
    out.leftovers_inside.emplace_back(line);
  }
  for (const char* log : {"slurmctld.log", "slurmd.log"}) {
    std::string text = ReadFile(absl::StrCat(work, "/", log));
    if (!text.empty())
      absl::StrAppend(&out.daemon_logs, "[", log, "]\n", Tail(text, kLogTailLines));
  }
  std::error_code ignored;
  std::filesystem::remove_all(work, ignored);
  if (!run.ok()) return run.status();
  return out;
}

}  // namespace pmi_shim::testutil
