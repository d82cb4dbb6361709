// A private single-node Slurm for end-to-end tests: a real PMI-2 (and later
// PMIx) host server that srun hands to its tasks.
//
// RunInSlurmCluster() starts slurmctld + slurmd (Slurm 22.05, auth/none, no
// munge, no cgroups) inside new net+mount+uts+pid namespaces that have only
// loopback (plus 127.0.0.2, which Slurm needs to listen), with a private
// /etc/hosts and resolv.conf and SLURM_CONF pointing at a file generated in a
// fresh work directory; runs one command there (usually srun); stops both
// daemons; and reports the command's status and output. The work is done by
// test/testing/slurm-ns.sh under
//   unshare --net --mount --uts --pid --fork --kill-child --mount-proc
// so whatever happens to the test, every daemon and task dies with the pid
// namespace. No Slurm program ever runs outside it (they would look their
// controller up over DNS).
//
//   absl::Status why = SlurmClusterAvailability();
//   if (!why.ok()) GTEST_SKIP() << why;
//   SlurmRunOptions options;
//   options.command = {"srun", "-n", "2", "hostname"};
//   absl::StatusOr<SlurmRun> run = RunInSlurmCluster(options);
//   ASSERT_TRUE(run.ok()) << run.status();
//   EXPECT_EQ(run->run.exit_code, 0) << run->Describe();
//   EXPECT_THAT(run->leftovers_inside, IsEmpty());
//
// A cycle (start, `srun -n 4` of a small MPI program, stop) takes about 0.5 s.
#ifndef PMI_SHIM_TEST_TESTING_SLURM_CLUSTER_H_
#define PMI_SHIM_TEST_TESTING_SLURM_CLUSTER_H_

#include <sys/types.h>

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "test/testing/processes.h"
#include "test/testing/subprocess.h"

namespace pmi_shim::testutil {

// OkStatus when a private Slurm can be started here; otherwise why not (not
// root, slurmctld/slurmd/srun/sinfo/unshare/ip missing, no mpi_pmi2 plugin).
// Tests skip with this reason; they never pass without a cluster.
absl::Status SlurmClusterAvailability();

struct SlurmRunOptions {
  // Run inside the namespace once the node is idle; SLURM_CONF is set.
  std::vector<std::string> command;
  // Added to the environment of the script, the daemons and the command
  // (srun passes its environment on to the tasks).
  std::vector<std::pair<std::string, std::string>> env;
  // CPUs the node claims (real cores are not checked); srun -n above this
  // waits for resources unless it has -O.
  int cpus = 4;
  // The whole cycle; past it the namespace is killed and run.timed_out set.
  absl::Duration timeout = absl::Seconds(60);
};

struct SlurmRun {
  // The command's exit status and output, plus lines "slurm-ns: ..." on
  // stderr when the cluster itself failed (exit code 125 then).
  RunResult run;
  // True once the node was idle and the command was started.
  bool cluster_started = false;
  // Namespace set up -> node idle, and command end -> daemons gone.
  std::optional<absl::Duration> ready_time;
  std::optional<absl::Duration> stop_time;
  // Processes still alive inside the namespace after both daemons stopped
  // ("PID CMDLINE"); they died with the namespace, but a test should know.
  std::vector<std::string> leftovers_inside;
  // Processes marked by this run (kMarkerVar) still alive after the
  // namespace was gone; killed before returning. Always expected empty.
  std::vector<ProcessInfo> leftovers_outside;
  // Last lines of slurmctld.log and slurmd.log, for failure messages.
  std::string daemon_logs;

  // RunResult::Describe() plus the timings and the daemon logs.
  std::string Describe() const;
};

// Starts the cluster, runs `options.command`, stops it and removes the work
// directory. Errors only when nothing could be run (no script, no temporary
// directory, unshare missing); everything else is reported in SlurmRun.
absl::StatusOr<SlurmRun> RunInSlurmCluster(const SlurmRunOptions& options);

}  // namespace pmi_shim::testutil

#endif  // PMI_SHIM_TEST_TESTING_SLURM_CLUSTER_H_
