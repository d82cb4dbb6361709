// A simulated cluster for end-to-end tests of jobs that span nodes.
//
// RunOnSimulatedCluster() builds N nodes on this machine with
// test/testing/cluster-ns.sh — each node its own network namespace (eth0 on a
// private bridge, 10.77.0.N), hostname (nodeN), IPC namespace, /dev/shm,
// /etc/hosts naming every node, node-local /run/pmi-shim and TMPDIR — all
// inside one new pid namespace, so every process of every node dies with the
// run. It runs one command on node1 (the head node, usually a launcher), and
// reports its status, output and what was left running on any node.
//
// Launchers reach the nodes through an ssh stand-in, as on a real cluster;
// ClusterLaunch() builds their command lines:
//
//   ClusterOptions options;
//   options.nodes = 2;
//   options.command = ClusterLaunch(Launcher::kHydra, 2, 2, {app});
//   absl::StatusOr<ClusterRun> run = RunOnSimulatedCluster(options);
//   ASSERT_TRUE(run.ok()) << run.status();
//   EXPECT_EQ(run->run.exit_code, 0) << run->Describe();
//   EXPECT_THAT(run->leftovers, IsEmpty());
#ifndef PMI_SHIM_TEST_TESTING_SIMULATED_CLUSTER_H_
#define PMI_SHIM_TEST_TESTING_SIMULATED_CLUSTER_H_

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "test/testing/launcher.h"
#include "test/testing/subprocess.h"

namespace pmi_shim::testutil {

// Environment cluster-ns.sh gives the command: the ssh stand-in's path, the
// node names ("node1,node2") and the cluster's work directory.
inline constexpr char kClusterRshVar[] = "PMI_SHIM_CLUSTER_RSH";
inline constexpr char kClusterHostsVar[] = "PMI_SHIM_CLUSTER_HOSTS";

// OkStatus when a simulated cluster can be built here (root, unshare,
// nsenter, ip with bridge and veth support); otherwise why not.
absl::Status SimulatedClusterAvailability();

struct ClusterOptions {
  int nodes = 2;
  // Run on node1 once every node is up.
  std::vector<std::string> command;
  std::vector<std::pair<std::string, std::string>> env;
  absl::Duration timeout = absl::Seconds(90);
  // When set, a command still running after `stall_after` is declared
  // stalled: the gdb backtraces of the processes whose command line matches
  // `stacks_of` (a regex) are kept in ClusterRun::stacks, then it is killed.
  std::optional<absl::Duration> stall_after;
  std::string stacks_of;
};

struct ClusterRun {
  // The command's status and output; "cluster-ns: ..." lines on stderr and
  // exit code 125 when the cluster itself could not be built.
  RunResult run;
  // "PID NODE CMDLINE" of processes still running on a node after the
  // command ended (they died with the pid namespace; a test should know).
  std::vector<std::string> leftovers;
  // The command ran past ClusterOptions::stall_after; `stacks` holds what
  // its processes were doing ("=== pid N: CMDLINE" then gdb's frames).
  bool stalled = false;
  std::string stacks;

  std::string Describe() const;
};

// What a stalled MPI job was doing, read from ClusterRun::stacks.
enum class StallKind {
  kUnknown,
  // MPICH 4.0.2 over UCX: every rank is in MPI_Finalize; some wait in the
  // final PMI barrier (a blocking read) while others spin in
  // ucp_worker_progress to disconnect endpoints that only the waiting ranks
  // could complete. A known peer bug (pmodels/mpich PR 6596 removed the
  // barrier) that appears whoever the PMI server is; not pmi-shim's.
  kMpichUcxFinalizeDeadlock,
};
// `ranks` is the job size: the classification needs every rank's stack.
StallKind ClassifyStall(absl::string_view stacks, int ranks);

absl::StatusOr<ClusterRun> RunOnSimulatedCluster(const ClusterOptions& options);

// A shell command line (run with bash -c on node1) that starts `program`
// with `ranks_per_node` ranks on each of `nodes` nodes under `launcher`
// (kHydra: -launcher ssh -launcher-exec $RSH -hosts node1:K,...; kOpenMpi:
// --mca plm_rsh_agent $RSH --host node1:K,...; see launcher.h), block-mapped
// (node1 gets ranks 0..K-1). Launchers run with their defaults; only what
// reaching the nodes needs is set.
std::vector<std::string> ClusterLaunch(Launcher launcher, int nodes, int ranks_per_node,
                                       const std::vector<std::string>& program);

}  // namespace pmi_shim::testutil

#endif  // PMI_SHIM_TEST_TESTING_SIMULATED_CLUSTER_H_
