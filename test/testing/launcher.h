// How the suite starts a job: one description (which launcher, how many
// ranks, what every rank runs, on which hosts) turned into the launcher's
// command line, and one runner that runs it to its end the way every test
// needs: bounded in time, every process marked so that leftovers are found,
// and none of the test's own launcher variables leaking in.
//
//   JobSpec spec;
//   spec.launcher = Launcher::kOpenMpi;
//   spec.command = BridgeExec({"--downstream", "pmi1"}, {ProgramPath("mpi_collectives")});
//   ASSERT_OK_AND_ASSIGN(JobResult out, RunJob(spec));
//   EXPECT_EQ(out.run.exit_code, 0) << out.Describe();
//   EXPECT_THAT(out.run.stdout_text, HasOneLinePerRank(4, "allreduce=10 allgather=ok"));
//   EXPECT_THAT(out.leftovers, IsEmpty());
//
// With `hosts` empty a job runs on this machine. With hosts and an
// rsh_agent it spans the nodes of a simulated cluster (simulated_cluster.h,
// ClusterLaunch), which the launchers reach the way they do on a real
// cluster: through the agent.
#ifndef PMI_SHIM_TEST_TESTING_LAUNCHER_H_
#define PMI_SHIM_TEST_TESTING_LAUNCHER_H_

#include <csignal>
#include <optional>
#include <ostream>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "test/testing/processes.h"
#include "test/testing/runfiles.h"
#include "test/testing/subprocess.h"

namespace pmi_shim::testutil {

enum class Launcher {
  kHydra,         // MPICH's mpiexec.hydra: a PMI-1/PMI-2 host
  kOpenMpi,       // Open MPI's mpirun: a PMIx host (Debian's, or a peer's by path)
  kSrun,          // Slurm's srun: runs inside the private Slurm (slurm_cluster.h)
  kBridgeLaunch,  // pmi-bridge launch: the bridge as a single-node launcher
  kNone,          // no launcher: `command` itself is the job (a wrapper, a reference)
};

// How ranks find a PMI-1/PMI-2 server (hydra and pmi-bridge launch).
enum class PmiMode {
  kFd,    // default: an inherited socket in PMI_FD
  kPort,  // -pmi-port / --pmi-port: PMI_PORT=127.0.0.1:PORT and PMI_ID
};

// "fd" / "port", for test names.
std::string ModeName(PmiMode mode);
// Lets gtest print a PmiMode parameter by name.
void PrintTo(PmiMode mode, std::ostream* os);

// The default programs.
inline constexpr char kHydraProgram[] = "/usr/bin/mpiexec.hydra";
inline constexpr char kOpenMpiProgram[] = "/usr/bin/mpirun.openmpi";

struct JobSpec {
  Launcher launcher = Launcher::kHydra;
  int ranks = 4;
  PmiMode mode = PmiMode::kFd;
  // The launcher's program; "" is the launcher's default (kHydraProgram,
  // kOpenMpiProgram, srun from PATH, ProgramPath("pmi-bridge")). A peer
  // release by absolute path, e.g. /opt/pmi-shim-peers/openmpi-5.0.10/bin/mpirun.
  std::string program;
  // Launcher options placed after the suite's own and before "-n N", e.g.
  // {"--mca", "btl", "self,vader"}, {"-genv", "K", "V"}, {"--protocol", "pmix"}.
  std::vector<std::string> launcher_flags;
  // srun --mpi=PLUGIN.
  std::string srun_mpi = "pmi2";
  // What every rank runs (often BridgeExec(...) around a program).
  std::vector<std::string> command;

  // The nodes the ranks go to, "NAME" or "NAME:SLOTS" (hydra -hosts, mpirun
  // --host, srun --nodelist); empty runs every rank on this machine, where
  // Open MPI is kept on loopback. pmi-bridge launch is single-node only.
  std::vector<std::string> hosts;
  // How the launcher starts its daemons on the other nodes: hydra
  // -launcher ssh -launcher-exec AGENT, mpirun --mca plm_rsh_agent AGENT.
  // Empty: the launcher's default.
  std::string rsh_agent;

  // Added to the launcher's environment (and so, usually, the ranks').
  std::vector<std::pair<std::string, std::string>> env;
  // Removed from it, besides the test's own launcher variables.
  std::vector<std::string> unset_env;
  // Past this the launcher's process group is killed (JobResult run.timed_out).
  absl::Duration timeout = absl::Seconds(60);
  // The value of kMarkerVar on every process of the job; "" is a fresh one.
  // A fixture that checks its own leftovers at TearDown passes its own.
  std::string marker;
  // How long the job's processes get to end after the launcher exited
  // before they count as leftovers (container engines reap slowly).
  absl::Duration leftover_grace = kLeftoverGrace;
  // Send `signal` to the launcher (not its group) this long after the start.
  std::optional<absl::Duration> signal_after;
  int signal = SIGINT;
};

// The launcher's full command line for `spec`. InvalidArgument for what a
// launcher cannot do (pmi-bridge launch on several hosts).
absl::StatusOr<std::vector<std::string>> LauncherArgv(const JobSpec& spec);

// `BRIDGE exec FLAGS -- COMMAND`; BRIDGE is the bridge under test unless given
// (an installed copy, say).
std::vector<std::string> BridgeExec(const std::vector<std::string>& flags,
                                    const std::vector<std::string>& command,
                                    const std::string& bridge = BridgePath());

// Variables of an outer launcher (the test itself may run under one) that a
// job must never see: it gets only its own launcher's.
const std::vector<std::string>& OuterLauncherVariables();

// One finished job.
struct JobResult {
  // The launcher's exit status, output and wall time.
  RunResult run;
  // Processes the job started that still ran once the launcher had exited
  // (after kLeftoverGrace); they have been killed by the time the caller sees
  // them. Expected empty.
  std::vector<ProcessInfo> leftovers;

  // run.Describe() plus the leftovers, for assertion messages.
  std::string Describe() const;
};

// How RunJob runs `spec` with `marker` (kMarkerVar) on every process: for
// runners that watch the job while it runs (fault injection).
absl::StatusOr<RunOptions> JobRunOptions(const JobSpec& spec, const std::string& marker);

// Runs `spec` to its end and collects its leftovers. Errors only when nothing
// could run (no such launcher, a spec the launcher cannot do). kSrun jobs run
// in a private Slurm: use RunInSlurmCluster with LauncherArgv(spec).
absl::StatusOr<JobResult> RunJob(const JobSpec& spec);

}  // namespace pmi_shim::testutil

#endif  // PMI_SHIM_TEST_TESTING_LAUNCHER_H_
