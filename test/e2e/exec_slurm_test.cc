// End-to-end: `pmi-bridge exec` as every task of a real Slurm job step,
// `srun -n 4 --mpi=pmi2`, in a private single-node Slurm 22.05
// (test/testing/slurm_cluster.h; one cluster per test, about 0.5 s each).
// With --mpi=pmi2, Slurm's plugin hands each task PMI_FD, PMI_JOBID, PMI_RANK and
// PMI_SIZE and speaks its own dialect (rc= first, "<job>.<step>" kvsname,
// appnum -1); the same programs run directly under srun are the reference.
//
// BridgedPmi2Kvs/auto translates libpmi2's PMI-2 onto Slurm's PMI-1 wire,
// with values up to 1023 bytes; /pmi2 relays PMI-2 as it is.
//
// Skipped (never passed) when no private Slurm can run here: not root,
// Slurm not installed, or inside a sandbox that denies setgroups (hence the
// target's no-sandbox tag).
#include <cstdlib>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "test/e2e/exec_util.h"
#include "test/e2e/launch_util.h"
#include "test/testing/launcher.h"
#include "test/testing/netns_test_main.h"
#include "test/testing/rank_lines.h"
#include "test/testing/runfiles.h"
#include "test/testing/slurm_cluster.h"
#include "test/testing/status_matchers.h"

namespace pmi_shim::e2e {
namespace {

using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::SizeIs;
using testutil::CollectivesText;
using testutil::HasOneLinePerRank;
using testutil::Lines;
using testutil::LinesStartingWith;
using testutil::ProgramPath;

constexpr int kTasks = 4;

class ExecSlurmTest : public ::testing::Test {
 protected:
  void SetUp() override {
    PMI_SHIM_REQUIRE_PRIVATE_NETNS();
    absl::Status available = testutil::SlurmClusterAvailability();
    if (!available.ok()) GTEST_SKIP() << "no private Slurm here: " << available;
  }

  // srun -n 4 --mpi=pmi2 [pmi-bridge exec BRIDGE_FLAGS --] PROGRAM, in a
  // fresh cluster.
  testutil::SlurmRun Srun(bool through_bridge, const std::string& program,
                          std::vector<std::string> bridge_flags = {},
                          const std::string& mpi = "pmi2") {
    return SrunCommand(through_bridge, {ProgramPath(program)}, std::move(bridge_flags), mpi);
  }

  testutil::SlurmRun SrunCommand(bool through_bridge, const std::vector<std::string>& command,
                                 std::vector<std::string> bridge_flags, const std::string& mpi) {
    testutil::JobSpec spec;
    spec.launcher = testutil::Launcher::kSrun;
    spec.ranks = kTasks;
    spec.srun_mpi = mpi;
    spec.command = through_bridge ? testutil::BridgeExec(bridge_flags, command) : command;
    absl::StatusOr<std::vector<std::string>> srun = testutil::LauncherArgv(spec);
    EXPECT_OK(srun);
    if (!srun.ok()) return testutil::SlurmRun{};
    testutil::SlurmRunOptions options;
    options.command = *std::move(srun);
    options.timeout = absl::Seconds(60);
    // Open MPI keeps its default transports; its session directory must not
    // meet another test's.
    options.env = {{"TMPDIR", PrivateTmpdir()}};
    absl::StatusOr<testutil::SlurmRun> run = testutil::RunInSlurmCluster(options);
    EXPECT_OK(run);
    if (!run.ok()) return testutil::SlurmRun{};
    EXPECT_TRUE(run->cluster_started) << run->Describe();
    EXPECT_THAT(run->leftovers_inside, IsEmpty()) << run->Describe();
    // Every process of the job, behind the bridges too, carries the
    // cluster's marker.
    EXPECT_THAT(run->leftovers_outside, IsEmpty()) << run->Describe();
    if (run->ready_time) {
      RecordProperty("slurm_ready_ms",
                     static_cast<int>(absl::ToInt64Milliseconds(*run->ready_time)));
    }
    if (run->stop_time) {
      RecordProperty("slurm_stop_ms", static_cast<int>(absl::ToInt64Milliseconds(*run->stop_time)));
    }
    RecordProperty("cycle_ms", static_cast<int>(absl::ToInt64Milliseconds(run->run.wall)));
    return *std::move(run);
  }

  void ExpectCollectivesOk(const testutil::SlurmRun& run) {
    EXPECT_EQ(run.run.exit_code, 0) << run.Describe();
    EXPECT_THAT(Lines(run.run.stdout_text), SizeIs(kTasks)) << run.Describe();
    EXPECT_THAT(run.run.stdout_text, HasOneLinePerRank(kTasks, CollectivesText(kTasks)))
        << run.Describe();
  }

  void ExpectPmi2KvsOk(const testutil::SlurmRun& run) {
    EXPECT_EQ(run.run.exit_code, 0) << run.Describe();
    EXPECT_THAT(Lines(run.run.stdout_text), SizeIs(kTasks)) << run.Describe();
    // Slurm's mapping for 4 tasks on one node.
    EXPECT_THAT(
        run.run.stdout_text,
        HasOneLinePerRank(kTasks, ::testing::StartsWith("pmi2 ok mapping=(vector,(0,1,4))")))
        << run.Describe();
  }
};

TEST_F(ExecSlurmTest, DirectMpiCollectivesReference) {
  ExpectCollectivesOk(Srun(false, "mpi_collectives"));
}

TEST_F(ExecSlurmTest, DirectPmi2KvsReference) { ExpectPmi2KvsOk(Srun(false, "pmi2_kvs")); }

TEST_F(ExecSlurmTest, BridgedMpiCollectives) { ExpectCollectivesOk(Srun(true, "mpi_collectives")); }

// libpmi2 behind the bridge, with the upstream chosen by the bridge (auto:
// PMI-1 on Slurm's PMI_FD, so PMI-2 is translated) or forced to PMI-2
// (relay + dialect repair).
class ExecSlurmUpstreamTest : public ExecSlurmTest,
                              public ::testing::WithParamInterface<std::string> {};

TEST_P(ExecSlurmUpstreamTest, BridgedPmi2Kvs) {
  ExpectPmi2KvsOk(Srun(true, "pmi2_kvs", {"--upstream", GetParam()}));
}

INSTANTIATE_TEST_SUITE_P(Upstreams, ExecSlurmUpstreamTest, ::testing::Values("auto", "pmi2"),
                         [](const ::testing::TestParamInfo<std::string>& info) {
                           return info.param;
                         });

// Slurm as a PMIx host (`--mpi=pmix`, PMIx 4 over TCP) with PMI clients
// behind the bridge: the bridge is a libpmix client upstream and serves
// PMI-1 (MPICH) or PMI-2 (libpmi2) downstream (design flow 3).
TEST_F(ExecSlurmTest, PmixHostServesMpichThroughTheBridge) {
  ExpectCollectivesOk(Srun(true, "mpi_collectives", {"--downstream", "pmi1"}, "pmix"));
}

TEST_F(ExecSlurmTest, PmixHostServesLibpmi2ThroughTheBridge) {
  ExpectPmi2KvsOk(Srun(true, "pmi2_kvs", {"--downstream", "pmi2"}, "pmix"));
}

// Open MPI 4.1 (PMIx client) under Slurm. With --mpi=pmi2 it cannot join
// directly (it has no PMI-2 client); the bridge hosts a PMIx server for it
// (flow 4). With --mpi=pmix the bridge relays PMIx bytes to Slurm's server.
std::vector<std::string> OmpiCollectives() {
  return {ProgramPath("pmix_ompi_app"), absl::StrCat(kTasks)};
}

TEST_F(ExecSlurmTest, Pmi2HostServesOpenMpiThroughTheBridge) {
  ExpectCollectivesOk(SrunCommand(true, OmpiCollectives(), {"--downstream", "pmix"}, "pmi2"));
}

// Node-true locality under Slurm's PMI-2: the 4 tasks of the node share one
// PMIx server (the node's first bridge starts it), so every Open MPI rank
// has the 3 others as shared-memory peers (MPI_COMM_TYPE_SHARED of 4) on
// one host, with Open MPI's default transports; the job is whole (size 4,
// sum of ranks 6).
TEST_F(ExecSlurmTest, Pmi2HostOpenMpiRanksShareTheirNode) {
  testutil::SlurmRun run = SrunCommand(true, {ProgramPath("mpi_locality_ompi")}, {}, "pmi2");
  EXPECT_EQ(run.run.exit_code, 0) << run.Describe();
  const std::vector<std::string> lines = Lines(run.run.stdout_text);
  EXPECT_EQ(lines.size(), static_cast<size_t>(kTasks)) << run.Describe();
  std::set<std::string> hosts;
  for (int rank = 0; rank < kTasks; ++rank) {
    const std::string prefix = absl::StrCat("rank ", rank, " of ", kTasks, " on ");
    int found = 0;
    for (const std::string& line : lines) {
      if (!absl::StartsWith(line, prefix)) continue;
      ++found;
      const size_t colon = line.find(": ");
      ASSERT_NE(colon, std::string::npos) << line;
      hosts.insert(line.substr(prefix.size(), colon - prefix.size()));
      EXPECT_EQ(line.substr(colon), absl::StrCat(": node_size=", kTasks, " sum=6")) << line;
    }
    EXPECT_EQ(found, 1) << "rank " << rank << "\n" << run.Describe();
  }
  EXPECT_EQ(hosts.size(), 1u) << run.Describe();
}

TEST_F(ExecSlurmTest, DirectOpenMpiUnderPmixReference) {
  ExpectCollectivesOk(SrunCommand(false, OmpiCollectives(), {}, "pmix"));
}

// Open MPI also runs directly under --mpi=pmix (the reference above), so a
// passing job alone would not show the relay carried anything. As in
// exec_pmix_test (RelayCarriesTheTrafficThroughTheBridgesOwnListener): each
// task prints Slurm's PMIx URIs before the bridge ("host ..."); behind the
// bridge, the program's shell prints what the program gets ("child ..."):
// every PMIX_SERVER_URI* points at a port that is not Slurm's, that its
// parent pmi-bridge listens on, and nothing in its environment names Slurm's
// port. After the program ("after ..."), the task's network namespace shows
// the connections made to that port.
TEST_F(ExecSlurmTest, PmixHostRelaysOpenMpiThroughTheBridge) {
  const std::string host =
      R"sh(echo "host rank=$PMIX_RANK $(env | grep '^PMIX_SERVER_URI' | sort | tr '\n' ' ')"; )sh"
      R"sh(export E2E_HOST_URI="$(env | grep '^PMIX_SERVER_URI' | head -1 | cut -d= -f2-)"; )sh"
      R"sh(exec "$@")sh";
  const std::string child =
      R"sh(p=$(env | grep '^PMIX_SERVER_URI' | head -1); p=${p##*:}; hp=${E2E_HOST_URI##*:}; )sh"
      R"sh(echo "child rank=$PMIX_RANK ppid=$PPID )sh"
      R"sh(refs=$(env | grep -v '^E2E_HOST_URI=' | grep -c "127.0.0.1:$hp\$") )sh"
      R"sh($(env | grep '^PMIX_SERVER_URI' | sort | tr '\n' ' '))sh"
      R"sh(listener=$(ss -Hltnp "sport = :$p" | tr -s ' ' | tr ' ' '_')"; )sh"
      R"sh("$0" "$@"; rc=$?; )sh"
      R"sh(echo "after rank=$PMIX_RANK port=$p )sh"
      R"sh(connections=$(ss -Htan "( sport = :$p or dport = :$p )" | grep -vc LISTEN)"; exit $rc)sh";
  std::vector<std::string> command = {"sh", "-c", host, "sh"};
  for (std::string& word : testutil::BridgeExec({}, {"sh", "-c", child})) {
    command.push_back(std::move(word));
  }
  for (const std::string& word : OmpiCollectives()) command.push_back(word);
  testutil::SlurmRun run = SrunCommand(false, command, {}, "pmix");

  std::vector<std::string> hosts = LinesStartingWith(run.run.stdout_text, "host ");
  std::vector<std::string> children = LinesStartingWith(run.run.stdout_text, "child ");
  std::vector<std::string> afters = LinesStartingWith(run.run.stdout_text, "after ");
  ASSERT_EQ(hosts.size(), static_cast<size_t>(kTasks)) << run.Describe();
  ASSERT_EQ(children.size(), static_cast<size_t>(kTasks)) << run.Describe();
  ASSERT_EQ(afters.size(), static_cast<size_t>(kTasks)) << run.Describe();
  const char* kUriNames[] = {"PMIX_SERVER_URI2", "PMIX_SERVER_URI21", "PMIX_SERVER_URI3",
                             "PMIX_SERVER_URI4", "PMIX_SERVER_URI41"};
  // Slurm's server: one port for every task and URI variable it set.
  std::vector<std::string> slurm_names;
  std::string slurm_uri;
  for (const char* name : kUriNames) {
    if (Word(hosts[0], name).empty()) continue;
    slurm_names.push_back(name);
    slurm_uri = Word(hosts[0], name);
  }
  ASSERT_FALSE(slurm_names.empty()) << "Slurm set no PMIX_SERVER_URI*: " << hosts[0];
  const int slurm_port = UriPort(slurm_uri);
  ASSERT_GT(slurm_port, 0) << hosts[0];
  std::set<int> relay_ports;
  for (const std::string& line : children) {
    SCOPED_TRACE(line);
    const int port = UriPort(Word(line, slurm_names.front()));
    EXPECT_GT(port, 0);
    EXPECT_NE(port, slurm_port) << "the program still talks to Slurm's server directly";
    relay_ports.insert(port);
    for (const std::string& name : slurm_names) {
      EXPECT_EQ(UriPort(Word(line, name)), port) << name;
      EXPECT_EQ(UriServer(Word(line, name)), UriServer(slurm_uri)) << name;
    }
    EXPECT_EQ(Word(line, "refs"), "0") << "Slurm's port still in the program's environment";
    EXPECT_THAT(Word(line, "listener"), HasSubstr(absl::StrCat("127.0.0.1:", port, "_")));
    EXPECT_THAT(Word(line, "listener"),
                HasSubstr(absl::StrCat(R"(("pmi-bridge",pid=)", Word(line, "ppid"), ",")));
  }
  EXPECT_EQ(relay_ports.size(), static_cast<size_t>(kTasks)) << "one relay per task";
  for (const std::string& line : afters) {
    SCOPED_TRACE(line);
    int port = 0, connections = 0;
    EXPECT_TRUE(absl::SimpleAtoi(Word(line, "port"), &port) && relay_ports.count(port) == 1);
    EXPECT_TRUE(absl::SimpleAtoi(Word(line, "connections"), &connections));
    EXPECT_GE(connections, 1) << "no connection was made to the bridge's port";
  }

  testutil::SlurmRun program = run;
  program.run.stdout_text =
      WithoutLinesStartingWith(run.run.stdout_text, {"host ", "child ", "after "});
  ExpectCollectivesOk(program);
}

}  // namespace
}  // namespace pmi_shim::e2e
