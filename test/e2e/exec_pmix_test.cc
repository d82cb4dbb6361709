// End-to-end: `pmi-bridge exec` in every cell of the translation matrix that
// involves PMIx and has a real peer on this machine (design §3, §5 flows 3
// and 4), each with real programs on both sides:
//
//   host (launcher)              bridge             command's client
//   mpirun.openmpi (PMIx 4.2.2)  --downstream pmi1  MPICH 4.0.2 (mpi_collectives)  flow 3
//   mpirun.openmpi               --downstream pmi2  Slurm libpmi2 (pmi2_kvs)
//   mpiexec.hydra (PMI-1; fd     --downstream pmix  Open MPI 4.1 (pmix_ompi_app),  flow 4
//     and -pmi-port)                                libpmix 4.2.2 (pmix_probe)
//   mpirun.openmpi               auto: byte relay   Open MPI 4.1, libpmix
//
// plus the reference runs without the bridge (which must fail as singletons,
// or the positive cells would prove nothing), the relay proven to carry the
// traffic, the translation to the wrong family (must end, not hang), and the
// failure paths of each cell (abort with a code, a rank exiting without
// finalize): the job ends by itself, quickly, non-zero, with nothing left.
//
// Every process a test starts carries testutil::kMarkerVar (which neither
// launcher nor bridge strips), so leftovers are found however they were
// reparented.
#include <dirent.h>
#include <sys/types.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <ios>
#include <map>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "test/e2e/exec_util.h"
#include "test/e2e/launch_util.h"
#include "test/testing/files.h"
#include "test/testing/launcher.h"
#include "test/testing/netns_test_main.h"
#include "test/testing/rank_lines.h"
#include "test/testing/runfiles.h"
#include "test/testing/subprocess.h"

namespace pmi_shim::e2e {
namespace {

using ::testing::Contains;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;
using testutil::BridgeExec;
using testutil::CollectivesText;
using testutil::HasOneLinePerRank;
using testutil::JobResult;
using testutil::JobSpec;
using testutil::Launcher;
using testutil::LinesStartingWith;
using testutil::ModeName;
using testutil::PmiMode;
using testutil::ProgramPath;

constexpr int kRanks = 4;
// A job that must end by itself (failure paths) has to do so within this.
constexpr absl::Duration kFailureLimit = absl::Seconds(10);

std::string OmpiApp() { return ProgramPath("pmix_ompi_app"); }
std::string OmpiAbort() { return ProgramPath("mpi_abort_ompi"); }
std::string Probe() { return ProgramPath("pmix_probe"); }

// kRanks ranks of `command` under `launcher`, with what PMIx jobs need here.
JobSpec PmixJob(Launcher launcher, std::vector<std::string> command) {
  JobSpec spec;
  spec.launcher = launcher;
  spec.ranks = kRanks;
  spec.command = std::move(command);
  AddPmixJobEnv(spec);
  return spec;
}

// Open MPI's mpirun as real-peers.md prescribes: root, 4 ranks on 2 cores,
// loopback only.
JobSpec Mpirun(std::vector<std::string> command) {
  return PmixJob(Launcher::kOpenMpi, std::move(command));
}

JobSpec Hydra(PmiMode mode, std::vector<std::string> command) {
  JobSpec spec = PmixJob(Launcher::kHydra, std::move(command));
  spec.mode = mode;
  return spec;
}

std::string LocalityApp() { return ProgramPath("mpi_locality_ompi"); }

// A publish root of this test's own (short enough for socket paths), where
// the bridges' rank and node directories go; empty again after every job.
std::string PublishRoot() {
  static const std::string* root = [] {
    std::string pattern = "/tmp/pmi-shim-e2e.XXXXXX";
    if (::mkdtemp(pattern.data()) == nullptr) return new std::string("/tmp");
    auto* made = new std::string(pattern);
    std::atexit([] { ::rmdir(PublishRoot().c_str()); });  // empty by then (RunToEnd checks)
    return made;
  }();
  return *root;
}

std::vector<std::string> PublishRootEntries() {
  std::vector<std::string> names;
  if (DIR* dir = ::opendir(PublishRoot().c_str())) {
    while (dirent* entry = ::readdir(dir)) {
      const std::string name = entry->d_name;
      if (name != "." && name != "..") names.push_back(name);
    }
    ::closedir(dir);
  }
  return names;
}

// Runs the job to its end, bounded by `timeout`; nothing (a node server's
// directory above all) may be left in the publish root.
JobResult RunToEnd(JobSpec spec, absl::Duration timeout = absl::Seconds(60)) {
  spec.timeout = timeout;
  spec.env.emplace_back("PMI_SHIM_RUNDIR", PublishRoot());
  JobResult out = RunOrAddFailure(spec);
  EXPECT_THAT(PublishRootEntries(), IsEmpty()) << "left in " << PublishRoot();
  return out;
}

// Exactly one "rank R of 4: TEXT" line per rank, TEXT matching `want` (a
// string, a matcher, or one of those from the rank), and no other "rank ...".
template <typename Want>
void ExpectOneLinePerRank(const testutil::RunResult& run, Want want) {
  EXPECT_THAT(run.stdout_text, HasOneLinePerRank(kRanks, want)) << run.Describe();
}

// N singletons: every rank prints the same `line`, and nothing else.
void ExpectSameLineOnEveryRank(const testutil::RunResult& run, const std::string& line) {
  EXPECT_EQ(LinesStartingWith(run.stdout_text, "rank "), std::vector<std::string>(kRanks, line))
      << run.Describe();
}

void ExpectCleanSuccess(const JobResult& out) {
  EXPECT_FALSE(out.run.timed_out) << out.run.Describe();
  EXPECT_EQ(out.run.exit_code, 0) << out.run.Describe();
  EXPECT_THAT(out.leftovers, IsEmpty()) << "processes still running after the launcher exited";
}

// A failure path: ended by itself, within kFailureLimit, with no survivor.
void ExpectEndedQuickly(const JobResult& out) {
  EXPECT_FALSE(out.run.timed_out) << out.run.Describe();
  EXPECT_LT(out.run.wall, kFailureLimit) << out.run.Describe();
  EXPECT_THAT(out.leftovers, IsEmpty()) << "processes still running after the launcher exited";
}

class ExecPmixTest : public ::testing::Test {
 protected:
  void SetUp() override { PMI_SHIM_REQUIRE_PRIVATE_NETNS(); }
};

class ExecPmixHydraTest : public ::testing::TestWithParam<PmiMode> {
 protected:
  void SetUp() override { PMI_SHIM_REQUIRE_PRIVATE_NETNS(); }
};

std::string ModeTestName(const ::testing::TestParamInfo<PmiMode>& info) {
  return ModeName(info.param);
}

// ---- References: without the bridge these pairs cannot meet ----

// MPICH has no PMIx client: under mpirun its ranks are singletons.
TEST_F(ExecPmixTest, ReferenceMpichUnderMpirunIsSingletons) {
  JobResult out = RunToEnd(Mpirun({ProgramPath("mpi_collectives")}));
  ExpectCleanSuccess(out);
  ExpectSameLineOnEveryRank(out.run, "rank 0 of 1: allreduce=1 allgather=ok");
}

// Open MPI has no PMI-1 client: under hydra its ranks are singletons.
TEST_F(ExecPmixTest, ReferenceOpenMpiUnderHydraIsSingletons) {
  JobResult out = RunToEnd(Hydra(PmiMode::kFd, {OmpiApp(), absl::StrCat(kRanks)}));
  EXPECT_FALSE(out.run.timed_out) << out.run.Describe();
  EXPECT_NE(out.run.exit_code, 0) << out.run.Describe();
  EXPECT_THAT(LinesStartingWith(out.run.stdout_text, "rank "),
              Contains("rank 0 of 1: FAIL MPI size 1, expected 4 (singleton?)"))
      << out.run.Describe();
  EXPECT_THAT(out.leftovers, IsEmpty());
}

// The relay's reference: the same Open MPI program straight under mpirun.
TEST_F(ExecPmixTest, ReferenceOpenMpiUnderMpirun) {
  JobResult out = RunToEnd(Mpirun({OmpiApp(), absl::StrCat(kRanks)}));
  ExpectCleanSuccess(out);
  ExpectOneLinePerRank(out.run, CollectivesText(kRanks));
}

// ---- --downstream auto: the bridge reads what the program links ----

// MPICH (libmpich.so.12) under a PMIx host gets PMI-1 with no flag.
TEST_F(ExecPmixTest, AutoServesMpichPmiUnderMpirun) {
  JobResult out = RunToEnd(Mpirun(BridgeExec({}, {ProgramPath("mpi_collectives")})));
  ExpectCleanSuccess(out);
  ExpectOneLinePerRank(out.run, CollectivesText(kRanks));
}

// Open MPI (libmpi.so.40) under hydra's PMI_FD gets a PMIx server with no flag.
TEST_F(ExecPmixTest, AutoServesOpenMpiPmixUnderHydra) {
  JobResult out = RunToEnd(Hydra(PmiMode::kFd, BridgeExec({}, {OmpiApp(), absl::StrCat(kRanks)})));
  ExpectCleanSuccess(out);
  ExpectOneLinePerRank(out.run, CollectivesText(kRanks));
}

// ---- Flow 3: PMIx host, PMI-1 / PMI-2 client ----

TEST_F(ExecPmixTest, MpirunHostMpichClientThroughPmi1) {
  JobResult out =
      RunToEnd(Mpirun(BridgeExec({"--downstream", "pmi1"}, {ProgramPath("mpi_collectives")})));
  ExpectCleanSuccess(out);
  ExpectOneLinePerRank(out.run, CollectivesText(kRanks));
}

TEST_F(ExecPmixTest, MpirunHostSlurmPmi2ClientThroughPmi2) {
  JobResult out = RunToEnd(Mpirun(BridgeExec({"--downstream", "pmi2"}, {ProgramPath("pmi2_kvs")})));
  ExpectCleanSuccess(out);
  // One node holding ranks 0..3 in a block.
  ExpectOneLinePerRank(out.run, "pmi2 ok mapping=(vector,(0,1,4))");
}

// Env hygiene: the PMI client gets PMI_FD (a live socket), the host's rank
// and size, and no PMIX_* at all (design §3: never PMI_SIZE together with
// PMIX_NAMESPACE; a library that can speak both must not be left to guess). The command then
// execs the MPICH program, so the job ends the normal way.
TEST_F(ExecPmixTest, MpirunHostPmi1ClientGetsOnlyAPmiRendezvous) {
  JobResult out = RunToEnd(Mpirun(BridgeExec(
      {"--downstream", "pmi1"},
      {"sh", "-c",
       "s=nofd; [ -n \"$PMI_FD\" ] && [ -S /proc/$$/fd/$PMI_FD ] && s=sock; "
       "echo \"env rank=${PMI_RANK-unset} size=${PMI_SIZE-unset} "
       "host=${OMPI_COMM_WORLD_RANK-unset} fd=$s pmix=$(env | grep -c '^PMIX_')\"; exec \"$0\"",
       ProgramPath("mpi_collectives")})));
  ExpectCleanSuccess(out);
  std::vector<std::string> lines = LinesStartingWith(out.run.stdout_text, "env ");
  std::sort(lines.begin(), lines.end());
  std::vector<std::string> want;
  for (int rank = 0; rank < kRanks; ++rank) {
    want.push_back(
        absl::StrFormat("env rank=%d size=%d host=%d fd=sock pmix=0", rank, kRanks, rank));
  }
  EXPECT_EQ(lines, want) << out.run.Describe();
  ExpectOneLinePerRank(out.run, CollectivesText(kRanks));
}

// A command that never uses PMI (a plain tool, a wrapper) and succeeds: the
// bridge finalizes its rank for it and exits 0, and so does mpirun.
// Repeated: a bridge that misses its command's exit (a SIGCHLD taken by
// another thread) does so only in some runs.
TEST_F(ExecPmixTest, MpirunHostCommandThatNeverUsesPmiEndsCleanly) {
  for (int attempt = 0; attempt < 3; ++attempt) {
    SCOPED_TRACE(absl::StrCat("attempt ", attempt));
    JobResult out =
        RunToEnd(Mpirun(BridgeExec({"--downstream", "pmi1"}, {"true"})), absl::Seconds(15));
    ExpectCleanSuccess(out);
    EXPECT_LT(out.run.wall, kFailureLimit) << out.run.Describe();
    if (HasFailure()) break;
  }
}

// ---- Flow 4: PMI-1 host (hydra, both rendezvous), PMIx client ----

TEST_P(ExecPmixHydraTest, OpenMpiClientThroughEmbeddedPmixServer) {
  JobResult out = RunToEnd(
      Hydra(GetParam(), BridgeExec({"--downstream", "pmix"}, {OmpiApp(), absl::StrCat(kRanks)})));
  ExpectCleanSuccess(out);
  ExpectOneLinePerRank(out.run, CollectivesText(kRanks));
}

// The launcher put all 4 ranks on this node: one node server serves them
// all, so each is local rank R of 4 (libpmix then completes the fences
// itself, the node being the whole job).
TEST_P(ExecPmixHydraTest, LibpmixProbeThroughEmbeddedPmixServer) {
  JobResult out = RunToEnd(Hydra(GetParam(), BridgeExec({"--downstream", "pmix"}, {Probe()})));
  ExpectCleanSuccess(out);
  ExpectOneLinePerRank(
      out.run, [](int rank) { return absl::StrFormat("pmix ok local=%d/%d", rank, kRanks); });
}

// Node-true locality with Open MPI's defaults (no transport setting): every
// rank shares its node with the 3 others (MPI_COMM_TYPE_SHARED of 4), on
// the machine's own hostname, and the job is whole (size 4, sum of ranks).
// Before the node server each bridge served one rank on an invented node of
// its own, and Open MPI failed: "unable to reach each other".
TEST_P(ExecPmixHydraTest, OpenMpiRanksShareTheirNodeWithDefaultTransports) {
  char host[256] = {};
  ASSERT_EQ(::gethostname(host, sizeof(host) - 1), 0);
  JobResult out = RunToEnd(Hydra(GetParam(), BridgeExec({}, {LocalityApp()})));
  ExpectCleanSuccess(out);
  // "rank R of 4 on HOST: ..." is not HasOneLinePerRank's form: exact lines.
  const std::vector<std::string> lines = LinesStartingWith(out.run.stdout_text, "rank ");
  EXPECT_EQ(lines.size(), static_cast<size_t>(kRanks)) << out.run.Describe();
  for (int rank = 0; rank < kRanks; ++rank) {
    const std::string want = absl::StrFormat("rank %d of %d on %s: node_size=%d sum=%d", rank,
                                             kRanks, host, kRanks, kRanks * (kRanks - 1) / 2);
    EXPECT_EQ(std::count(lines.begin(), lines.end(), want), 1)
        << "want exactly one \"" << want << "\"\n"
        << out.run.Describe();
  }
}

// Without PMIX_COLLECT_DATA remote values come through direct modex; 20 kB
// values do not fit one PMI-1 value and are split.
TEST_P(ExecPmixHydraTest, LibpmixProbeDirectModexOfLargeValues) {
  JobResult out =
      RunToEnd(Hydra(GetParam(), BridgeExec({"--downstream", "pmix"},
                                            {Probe(), "--no-collect", "--bytes", "20000"})));
  ExpectCleanSuccess(out);
  ExpectOneLinePerRank(
      out.run, [](int rank) { return absl::StrFormat("pmix ok local=%d/%d", rank, kRanks); });
}

// Env hygiene the other way: a PMIx rendezvous and no PMI_* at all (but
// pmi-shim's own PMI_SHIM_DIR, which every rank gets for the containers it
// may start, and which no PMI library reads).
TEST_P(ExecPmixHydraTest, PmixClientGetsOnlyAPmixRendezvous) {
  JobResult out = RunToEnd(
      Hydra(GetParam(), BridgeExec({"--downstream", "pmix"},
                                   {"sh", "-c",
                                    "echo \"env rank=${PMIX_RANK-unset} ns=${PMIX_NAMESPACE:+set} "
                                    "uri=${PMIX_SERVER_URI41#*;} pmi=$(env | grep '^PMI_' | grep "
                                    "-vc '^PMI_SHIM_DIR=')\""})));
  ExpectCleanSuccess(out);
  std::vector<std::string> lines = LinesStartingWith(out.run.stdout_text, "env ");
  ASSERT_EQ(lines.size(), static_cast<size_t>(kRanks)) << out.run.Describe();
  std::sort(lines.begin(), lines.end());
  for (int rank = 0; rank < kRanks; ++rank) {
    EXPECT_THAT(lines[rank],
                ::testing::MatchesRegex(absl::StrCat(
                    "env rank=", rank, " ns=set uri=tcp4://127\\.0\\.0\\.1:[0-9]+ pmi=0")))
        << out.run.Describe();
  }
}

INSTANTIATE_TEST_SUITE_P(Modes, ExecPmixHydraTest, ::testing::Values(PmiMode::kFd, PmiMode::kPort),
                         ModeTestName);

// ---- PMIx host, PMIx client: the byte relay ----

TEST_F(ExecPmixTest, MpirunHostOpenMpiClientThroughRelay) {
  JobResult out = RunToEnd(Mpirun(BridgeExec({}, {OmpiApp(), absl::StrCat(kRanks)})));
  ExpectCleanSuccess(out);
  ExpectOneLinePerRank(out.run, CollectivesText(kRanks));
}

TEST_F(ExecPmixTest, MpirunHostLibpmixProbeThroughRelay) {
  // --downstream pmix under a PMIx host is the relay too.
  JobResult out = RunToEnd(Mpirun(BridgeExec({"--downstream", "pmix"}, {Probe()})));
  ExpectCleanSuccess(out);
  ExpectOneLinePerRank(
      out.run, [](int rank) { return absl::StrFormat("pmix ok local=%d/%d", rank, kRanks); });
}

// A PMIx client in a user namespace (uid 1000 there is root here) writes
// uid/gid 1000 into its native-security credential, which mpirun refuses
// (seen bare: every rank exits 1). Through the published pmix.sock the
// bridge's relay knows, from SO_PEERCRED, who the client is on this side
// and presents that identity instead (pmix_handshake.h).
TEST_F(ExecPmixTest, MpirunHostClientInAUserNamespaceThroughTheIdentityRewrite) {
  char publish[] = "/tmp/pmi-shim-userns-XXXXXX";  // TEST_TMPDIR is too long for sun_path
  ASSERT_NE(::mkdtemp(publish), nullptr);
  JobResult out = RunToEnd(Mpirun(BridgeExec(
      {"--publish-dir", publish}, {"unshare", "--user", "--map-user=1000", "--map-group=1000",
                                   ProgramPath("pmi-shim-client"), "exec", "--", Probe()})));
  ExpectCleanSuccess(out);
  ExpectOneLinePerRank(
      out.run, [](int rank) { return absl::StrFormat("pmix ok local=%d/%d", rank, kRanks); });
  EXPECT_EQ(::rmdir(publish), 0) << "a rank directory was left in " << publish;
}

// TCP sockets of this network namespace, from /proc/self/net/tcp: one
// "LOCALPORT REMOTEPORT STATE" entry (decimal ports, hex state) per socket.
std::multiset<std::string> TcpSockets() {
  std::multiset<std::string> sockets;
  std::ifstream in("/proc/self/net/tcp");
  std::string line;
  std::getline(in, line);  // header
  while (std::getline(in, line)) {
    std::vector<std::string> fields = absl::StrSplit(line, ' ', absl::SkipEmpty());
    if (fields.size() < 4) continue;
    auto port = [](absl::string_view address) {
      int value = 0;
      absl::SimpleHexAtoi(address.substr(address.find(':') + 1), &value);
      return value;
    };
    sockets.insert(absl::StrCat(port(fields[1]), " ", port(fields[2]), " ", fields[3]));
  }
  return sockets;
}

// Proof that the relay, not mpirun's own server, carried each rank's PMIx
// traffic. Before the bridge, each rank prints the URI mpirun gave it
// ("host ..."); under the bridge, before exec'ing the Open MPI program, the
// command prints what it got ("child ..."): every PMIX_SERVER_URI* points at
// a port that is not mpirun's, that its parent pmi-bridge listens on (ss -p),
// and nothing in its environment names mpirun's port any more. After the job,
// the namespace's TCP table shows a connection made to each bridge's port.
TEST_F(ExecPmixTest, RelayCarriesTheTrafficThroughTheBridgesOwnListener) {
  const std::string inner =
      "p=${PMIX_SERVER_URI4##*:}; hp=${E2E_HOST_URI4##*:}; "
      "echo \"child rank=$PMIX_RANK ppid=$PPID "
      "refs=$(env | grep -v '^E2E_HOST_URI4=' | grep -c \"127.0.0.1:$hp\\$\") "
      "$(env | grep '^PMIX_SERVER_URI' | sort | tr '\\n' ' ')"
      "listener=$(ss -Hltnp \"sport = :$p\" | tr -s ' ' | tr ' ' '_')\"; "
      "exec \"$0\" \"$@\"";
  std::vector<std::string> command = {
      "sh", "-c",
      "echo \"host rank=$OMPI_COMM_WORLD_RANK uri4=$PMIX_SERVER_URI4\"; "
      "export E2E_HOST_URI4=\"$PMIX_SERVER_URI4\"; exec \"$@\"",
      "sh"};
  for (std::string& arg : BridgeExec({}, {"sh", "-c", inner, OmpiApp(), absl::StrCat(kRanks)})) {
    command.push_back(std::move(arg));
  }
  const std::multiset<std::string> sockets_before = TcpSockets();
  JobResult out = RunToEnd(Mpirun(command));
  const std::multiset<std::string> sockets_after = TcpSockets();
  ExpectCleanSuccess(out);
  ExpectOneLinePerRank(out.run, CollectivesText(kRanks));

  // mpirun's server: one URI for all ranks.
  std::vector<std::string> hosts = LinesStartingWith(out.run.stdout_text, "host ");
  ASSERT_EQ(hosts.size(), static_cast<size_t>(kRanks)) << out.run.Describe();
  const std::string host_uri = Word(hosts[0], "uri4");
  const int host_port = UriPort(host_uri);
  ASSERT_GT(host_port, 0) << hosts[0];
  for (const std::string& host : hosts) EXPECT_EQ(Word(host, "uri4"), host_uri) << host;

  std::vector<std::string> children = LinesStartingWith(out.run.stdout_text, "child ");
  ASSERT_EQ(children.size(), static_cast<size_t>(kRanks)) << out.run.Describe();
  std::map<int, int> relay_port_of_rank;
  for (const std::string& child : children) {
    SCOPED_TRACE(child);
    int rank = -1;
    ASSERT_TRUE(absl::SimpleAtoi(Word(child, "rank"), &rank));
    const int port = UriPort(Word(child, "PMIX_SERVER_URI4"));
    EXPECT_GT(port, 0);
    EXPECT_NE(port, host_port) << "the command still talks to mpirun directly";
    relay_port_of_rank[rank] = port;
    // Every URI variable mpirun set is rewritten to the same listener; the
    // server's identity (nspace.rank before ';') is kept.
    for (const char* name : {"PMIX_SERVER_URI2", "PMIX_SERVER_URI21", "PMIX_SERVER_URI3",
                             "PMIX_SERVER_URI4", "PMIX_SERVER_URI41"}) {
      const std::string uri = Word(child, name);
      EXPECT_EQ(UriPort(uri), port) << name;
      EXPECT_EQ(UriServer(uri), UriServer(host_uri)) << name;
    }
    EXPECT_EQ(Word(child, "refs"), "0") << "mpirun's port still in the command's environment";
    // The listener at that port belongs to the command's parent: its bridge.
    const std::string listener = Word(child, "listener");
    EXPECT_THAT(listener, HasSubstr(absl::StrCat("127.0.0.1:", port, "_")));
    EXPECT_THAT(listener,
                HasSubstr(absl::StrCat("(\"pmi-bridge\",pid=", Word(child, "ppid"), ",")));
  }
  ASSERT_EQ(relay_port_of_rank.size(), static_cast<size_t>(kRanks)) << out.run.Describe();
  std::set<int> distinct;
  for (const auto& [rank, port] : relay_port_of_rank) distinct.insert(port);
  EXPECT_EQ(distinct.size(), static_cast<size_t>(kRanks)) << "one relay per rank";

  // Connections that came and went during the job (TIME_WAIT and the like;
  // 0A is LISTEN): each rank's client connected to its bridge's port.
  std::vector<std::string> new_sockets;
  for (const std::string& socket : sockets_after) {
    if (sockets_before.count(socket) < sockets_after.count(socket)) new_sockets.push_back(socket);
  }
  for (const auto& [rank, port] : relay_port_of_rank) {
    const bool connected = std::any_of(new_sockets.begin(), new_sockets.end(), [&](auto& s) {
      std::vector<std::string> f = absl::StrSplit(s, ' ');
      return f[2] != "0A" && (f[0] == absl::StrCat(port) || f[1] == absl::StrCat(port));
    });
    EXPECT_TRUE(connected) << "no connection to rank " << rank << "'s relay port " << port
                           << "; new sockets: " << absl::StrJoin(new_sockets, ", ");
  }
}

// ---- Translation to the wrong family: must end, not hang ----

// An Open MPI program told it speaks PMI-1: the bridge hands it PMI_FD and
// no PMIX_*, but mpirun's OMPI_* variables still tell Open MPI it was
// launched by mpirun, so its PMIx client finds no server and MPI_Init fails
// ("OPAL ERROR: Unreachable"). The job must end non-zero by itself.
TEST_F(ExecPmixTest, OpenMpiClientTranslatedToPmi1FailsQuickly) {
  JobResult out =
      RunToEnd(Mpirun(BridgeExec({"--downstream", "pmi1"}, {OmpiApp(), absl::StrCat(kRanks)})),
               absl::Seconds(20));
  EXPECT_FALSE(out.run.timed_out) << out.run.Describe();
  EXPECT_NE(out.run.exit_code, 0) << out.run.Describe();
  EXPECT_LT(out.run.wall, absl::Seconds(15)) << out.run.Describe();
  EXPECT_THAT(out.run.stdout_text, Not(HasSubstr("allreduce="))) << out.run.Describe();
  EXPECT_THAT(out.run.stderr_text, HasSubstr("An error occurred in MPI_Init"))
      << out.run.Describe();
  EXPECT_THAT(out.leftovers, IsEmpty());
}

// ---- Failure paths of each cell ----

// Flow 3: MPICH's MPI_Abort(7) on rank 1 goes up as a PMIx abort; the
// ranks waiting in MPI_Barrier must not survive.
TEST_F(ExecPmixTest, MpirunHostMpichAbortEndsTheJobWithItsCode) {
  JobResult out = RunToEnd(Mpirun(BridgeExec({"--downstream", "pmi1"}, {ProgramPath("mpi_abort")})),
                           absl::Seconds(30));
  ExpectEndedQuickly(out);
  EXPECT_EQ(out.run.exit_code, 7) << out.run.Describe();
}

// Flow 3: rank 2 says init over PMI-1, then exits 3 without finalize while
// the other ranks wait for it in MPI_Init's barrier.
TEST_F(ExecPmixTest, MpirunHostPmi1RankExitingAfterInitEndsTheJob) {
  // mpirun may tear the job down before it forwards the exiting rank's last
  // stderr line, so the bridges' JSON log is read as well.
  const std::string log = absl::StrCat(::testing::TempDir(), "/rank-exiting.log");
  std::remove(log.c_str());
  JobResult out = RunToEnd(
      Mpirun(BridgeExec(
          {"--downstream", "pmi1", "--log-file", log},
          {"sh", "-c", "[ \"$PMI_RANK\" = 2 ] && exec \"$1\" \"$2\" recv exit:3; exec \"$0\"",
           ProgramPath("mpi_collectives"), ProgramPath("pmi_raw_client"),
           "send:cmd=init pmi_version=1 pmi_subversion=1\\n"})),
      absl::Seconds(30));
  ExpectEndedQuickly(out);
  EXPECT_NE(out.run.exit_code, 0) << out.run.Describe();
  EXPECT_THAT(out.run.stdout_text, HasSubstr("recv: cmd=response_to_init rc=0"))
      << out.run.Describe();
  EXPECT_TRUE(FindRankError(out.run.stderr_text, 2, "without finalize").has_value() ||
              absl::StrContains(testutil::ReadFile(log),
                                "rank 2: closed its PMI connection "
                                "without finalize"))
      << out.run.Describe();
  EXPECT_THAT(out.run.stdout_text, Not(HasSubstr("allreduce="))) << out.run.Describe();
}

// Flow 3: rank 2's command exits 3 before saying anything (a container that
// failed to start, say) while the other ranks wait in MPI_Init. mpirun ends
// the job when rank 2's bridge exits with 3.
TEST_F(ExecPmixTest, MpirunHostPmi1CommandFailingBeforeInitEndsTheJob) {
  JobResult out =
      RunToEnd(Mpirun(BridgeExec({"--downstream", "pmi1"},
                                 {"sh", "-c", "[ \"$PMI_RANK\" = 2 ] && exit 3; exec \"$0\"",
                                  ProgramPath("mpi_collectives")})),
               absl::Seconds(20));
  ExpectEndedQuickly(out);
  EXPECT_NE(out.run.exit_code, 0) << out.run.Describe();
  EXPECT_THAT(out.run.stdout_text, Not(HasSubstr("allreduce="))) << out.run.Describe();
}

// Flow 4: PMIx_Abort(7, "probe abort") on rank 1 reaches hydra as a PMI-1
// abort with the code.
TEST_F(ExecPmixTest, HydraHostPmixAbortEndsTheJobWithItsCode) {
  JobResult out = RunToEnd(
      Hydra(PmiMode::kFd, BridgeExec({"--downstream", "pmix"}, {Probe(), "--abort-rank", "1"})),
      absl::Seconds(30));
  ExpectEndedQuickly(out);
  EXPECT_EQ(out.run.exit_code, 7) << out.run.Describe();
}

// Flow 4: Open MPI's MPI_Abort(7), the same way.
TEST_F(ExecPmixTest, HydraHostOpenMpiAbortEndsTheJobWithItsCode) {
  JobResult out = RunToEnd(Hydra(PmiMode::kFd, BridgeExec({"--downstream", "pmix"}, {OmpiAbort()})),
                           absl::Seconds(30));
  ExpectEndedQuickly(out);
  // (Not the program's "calling MPI_Abort(7)": hydra may tear the job down
  // before forwarding that line.)
  EXPECT_EQ(out.run.exit_code, 7) << out.run.Describe();
}

// Flow 4: rank 2 exits 3 after PMIx_Init without PMIx_Finalize while the
// others wait in PMIx_Fence: its bridge reports it lost upstream.
TEST_F(ExecPmixTest, HydraHostPmixRankExitingWithoutFinalizeEndsTheJob) {
  JobResult out = RunToEnd(
      Hydra(PmiMode::kFd, BridgeExec({"--downstream", "pmix"}, {Probe(), "--vanish-rank", "2"})),
      absl::Seconds(30));
  ExpectEndedQuickly(out);
  EXPECT_NE(out.run.exit_code, 0) << out.run.Describe();
  EXPECT_THAT(out.run.stdout_text, Not(HasSubstr("pmix ok"))) << out.run.Describe();
}

// Flow 4: rank 1 is SIGKILLed a second after PMIx_Init while the other
// ranks wait for it in PMIx_Fence (in the node server's libpmix). Its bridge
// tells the node server, which reports the rank lost; the bridge aborts the
// job upstream, and the node server ends with the node's last bridge,
// leaving nothing behind (RunJob checks). (Whose line naming a lost rank
// reaches the output is a race: libpmix fails the others' fence at once,
// they exit 1 and their bridges abort too, and hydra 4.0.2 drops what its
// ranks still had to print once it tears the job down.)
TEST_F(ExecPmixTest, HydraHostPmixRankKilledMidFenceEndsTheJob) {
  JobResult out = RunToEnd(
      Hydra(PmiMode::kFd, BridgeExec({"--downstream", "pmix"},
                                     {"sh", "-c",
                                      "[ \"$PMIX_RANK\" = 1 ] && { sleep 1; kill -9 $$; } & "
                                      "exec \"$0\" --hang-rank 1",
                                      Probe()})),
      absl::Seconds(30));
  ExpectEndedQuickly(out);
  EXPECT_NE(out.run.exit_code, 0) << out.run.Describe();
  EXPECT_THAT(out.run.stdout_text, Not(HasSubstr("pmix ok"))) << out.run.Describe();
}

// Flow 4: rank 1's bridge itself is SIGKILLed mid-fence (its command dies
// with it). The node server sees its control connection close and reports
// the rank lost; hydra sees the rank's PMI connection close and ends the
// job; the server ends with the other bridges, leaving nothing behind.
TEST_F(ExecPmixTest, HydraHostBridgeKilledMidFenceEndsTheJob) {
  JobResult out = RunToEnd(
      Hydra(PmiMode::kFd, BridgeExec({"--downstream", "pmix"},
                                     {"sh", "-c",
                                      "[ \"$PMIX_RANK\" = 1 ] && { sleep 1; kill -9 $PPID; } & "
                                      "exec \"$0\" --hang-rank 1",
                                      Probe()})),
      absl::Seconds(30));
  ExpectEndedQuickly(out);
  EXPECT_NE(out.run.exit_code, 0) << out.run.Describe();
  EXPECT_THAT(out.run.stdout_text, Not(HasSubstr("pmix ok"))) << out.run.Describe();
}

// Relay: Open MPI's MPI_Abort(7) (a PMIx_Abort) goes to mpirun byte for
// byte. (Not pmix_probe --abort-rank: after a bare libpmix client's
// PMIx_Abort, mpirun.openmpi 4.1.4 itself hangs in about one run in three,
// with no bridge involved.)
TEST_F(ExecPmixTest, MpirunHostOpenMpiAbortThroughRelayEndsTheJobWithItsCode) {
  JobResult out = RunToEnd(Mpirun(BridgeExec({}, {OmpiAbort()})), absl::Seconds(30));
  ExpectEndedQuickly(out);
  EXPECT_EQ(out.run.exit_code, 7) << out.run.Describe();
}

// Relay: the bridge exits with its command's 3; mpirun ends the job. (Its
// status is that of the first rank mpirun saw fail: 3, or 1 from a rank
// whose PMIx_Fence failed first, as without the bridge.)
TEST_F(ExecPmixTest, MpirunHostPmixRankExitingThroughRelayEndsTheJob) {
  JobResult out =
      RunToEnd(Mpirun(BridgeExec({}, {Probe(), "--vanish-rank", "2"})), absl::Seconds(30));
  ExpectEndedQuickly(out);
  EXPECT_THAT(out.run.exit_code, ::testing::AnyOf(1, 3)) << out.run.Describe();
  EXPECT_THAT(out.run.stdout_text, Not(HasSubstr("pmix ok"))) << out.run.Describe();
}

}  // namespace
}  // namespace pmi_shim::e2e
