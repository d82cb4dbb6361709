// End-to-end: design.md §5 flow 5 with the bind-mount engine that installs
// here, Charliecloud 0.31's ch-run. Each rank is
//
//   LAUNCHER -n 4 pmi-bridge exec [--downstream X] -- ch-run IMAGE -- APP
//
// and pmi-bridge itself rewrites the ch-run line (bridge/engines): it binds
// the rank directory and pmi-shim's tools (installed by deploy/install.sh)
// and puts pmi-shim-client in front of APP. The image is busybox plus the
// MPI programs and their libraries (test/testing/rootfs.h), with no PMI
// glue of its own. Covered: a PMI-1 job under hydra (PMI_FD), an MPICH image
// under mpirun.openmpi (PMIx host, PMI-1 client), an Open MPI image under
// hydra (the bridge hosts PMIx), the flags written by hand with
// `pmi-bridge env`, and the N-singletons symptom: reproduced without
// pmi-shim, and caught by `pmi-shim-client check` with the fix named.
//
// Ranks in separate ch-runs live in separate user namespaces: MPICH's UCX
// shared memory and Open MPI's vader BTL fail there (real-peers.md), so the
// jobs use TCP/self. ch-run binds $TMPDIR at the container's /tmp, so jobs
// run with TMPDIR unset and the publish dir (under /tmp) is visible inside.
#include <stdlib.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "test/containers/flow_fixture.h"
#include "test/testing/launcher.h"
#include "test/testing/processes.h"
#include "test/testing/rank_lines.h"
#include "test/testing/status_matchers.h"
#include "test/testing/subprocess.h"

namespace pmi_shim::containers {
namespace {

using ::testing::HasSubstr;
using ::testing::IsEmpty;
using testutil::HasOneLinePerRank;

constexpr char kChRun[] = "/usr/bin/ch-run";
constexpr char kCollectives[] = "allreduce=10 allgather=ok";

// The lines of `text` that start with "rank ".
std::vector<std::string> RankLines(const std::string& text) {
  return testutil::LinesStartingWith(text, "rank ");
}

class ExecCharliecloudTest : public FlowTest {
 protected:
  void SetUp() override {
    FlowTest::SetUp();
    if (HasFatalFailure() || IsSkipped()) return;
    ASSERT_TRUE(Require({kChRun, testutil::kHydraProgram, testutil::kOpenMpiProgram}));
    marker_ = testutil::UniqueMarkerValue();
  }

  void TearDown() override {
    // Nothing of this test's jobs may still run (ch-run execs the app, so a
    // leftover rank would carry the marker).
    auto left = testutil::ProcessesWithMarker(marker_);
    EXPECT_THAT(left, IsEmpty()) << "processes left by the jobs";
    testutil::KillProcesses(left);
    FlowTest::TearDown();  // mounts, sockets, files in the publish dir
  }

  std::string Tools() const { return prefix() + "/libexec/pmi-shim"; }

  // `ch-run IMAGE -- COMMAND` exactly as a user writes it.
  std::vector<std::string> ChRun(const std::vector<std::string>& command) const {
    return ChRunWith({}, command);
  }

  // All ranks in one container (ch-run --join), the way Charliecloud runs
  // MPI jobs: ranks then share a user namespace, and MPICH's shared memory
  // works between them. In separate ch-runs MPICH over UCX/TCP could end in
  // a finalize deadlock (a rank progressing UCX while its peers wait in the
  // PMI barrier), whatever the PMI server.
  std::vector<std::string> ChRunJoined(const std::vector<std::string>& command) const {
    return ChRunWith({absl::StrCat("--join-ct=", kRanks), absl::StrCat("--join-tag=", marker_)},
                     command);
  }

  std::vector<std::string> ChRunWith(const std::vector<std::string>& options,
                                     const std::vector<std::string>& command) const {
    std::vector<std::string> argv = {kChRun};
    argv.insert(argv.end(), options.begin(), options.end());
    argv.insert(argv.end(), {rootfs(), "--"});
    argv.insert(argv.end(), command.begin(), command.end());
    return argv;
  }

  // mpiexec.hydra -genv NAME VALUE... (GENV holds NAME, VALUE pairs).
  static testutil::JobSpec HydraWith(const std::vector<std::string>& genv,
                                     const std::vector<std::string>& command) {
    testutil::JobSpec spec = Hydra(command);
    for (size_t i = 0; i + 1 < genv.size(); i += 2) {
      spec.launcher_flags.insert(spec.launcher_flags.end(), {"-genv", genv[i], genv[i + 1]});
    }
    return spec;
  }

  // Runs `spec` with TMPDIR unset (ch-run binds it at the container's /tmp);
  // whatever the job left running fails the test.
  testutil::RunResult RunChJob(testutil::JobSpec spec) {
    spec.env = {{"USER", "root"}};  // ch-run refuses to start without it
    spec.unset_env = {"TMPDIR"};
    spec.marker = marker_;
    spec.leftover_grace = absl::Seconds(2);
    absl::StatusOr<testutil::JobResult> out = testutil::RunJob(spec);
    EXPECT_OK(out);
    if (!out.ok()) return {};
    EXPECT_THAT(out->leftovers, IsEmpty()) << "processes left by the job";
    return out->run;
  }

  std::string marker_;
};

// (a) PMI-1 host with PMI_FD; the MPICH program's client meets it through
// the rank's socket. The bridge rewrites the plain ch-run line itself.
TEST_F(ExecCharliecloudTest, HydraPmi1JobThroughRewrittenChRun) {
  BuildImage(/*ompi=*/false);
  testutil::RunResult run = RunChJob(HydraWith({}, BridgeExec({}, ChRunJoined({kMpichApp}))));
  EXPECT_EQ(run.exit_code, 0) << run.Describe();
  EXPECT_THAT(run.stdout_text, HasOneLinePerRank(kRanks, kCollectives)) << run.Describe();
}

// Issue 12 item 4: an image built with no thought of pmi-shim has no /opt,
// so ch-run cannot bind the tools at /opt/pmi-shim ("can't execve
// /opt/pmi-shim/bin/pmi-shim-client"). The bridge looks into the image
// first and carries the client in the rank directory, which ch-run's shared
// /tmp makes visible: no flag, no change to the image.
TEST_F(ExecCharliecloudTest, ImageWithoutOptNeedsNoFlag) {
  BuildImage(/*ompi=*/false, /*mount_points=*/false);
  ASSERT_FALSE(std::filesystem::exists(rootfs() + "/opt"));
  testutil::RunResult run = RunChJob(
      HydraWith({}, {bridge(), "exec", "-v", "--", kChRun, absl::StrCat("--join-ct=", kRanks),
                     absl::StrCat("--join-tag=", marker_), rootfs(), "--", kMpichApp}));
  EXPECT_EQ(run.exit_code, 0) << run.Describe();
  EXPECT_THAT(run.stdout_text, HasOneLinePerRank(kRanks, kCollectives)) << run.Describe();
  EXPECT_THAT(run.stderr_text, HasSubstr("has no /opt/pmi-shim: pmi-shim-client is carried in "
                                         "the rank directory"))
      << run.Describe();
  EXPECT_FALSE(std::filesystem::exists(rootfs() + "/opt")) << "the image must stay untouched";
}

// Nothing fits: a rank directory outside the shared /tmp, and an image
// with neither it nor /opt. One line says what to do; nothing is run.
TEST_F(ExecCharliecloudTest, ImageWithoutMountPointsOutsideTmpSaysWhatToDo) {
  BuildImage(/*ompi=*/false, /*mount_points=*/false);
  char templ[] = "/var/tmp/pmi-shim-rundir.XXXXXX";  // not under the shared /tmp
  ASSERT_NE(::mkdtemp(templ), nullptr);
  const std::string rundir = templ;
  testutil::RunResult run = RunChJob(HydraWith(
      {}, {bridge(), "exec", "--publish-dir", rundir, "--", kChRun, rootfs(), "--", kMpichApp}));
  EXPECT_NE(run.exit_code, 0) << run.Describe();
  EXPECT_THAT(run.stderr_text, HasSubstr("ch-run binds only onto directories the image has"))
      << run.Describe();
  EXPECT_THAT(run.stderr_text, HasSubstr("publish under /tmp")) << run.Describe();
  // A rank whose bridge the launcher SIGKILLed (after another rank failed
  // first) has its directory removed by its janitor, a moment later.
  std::error_code ignored;
  for (int i = 0; i < 100 && !std::filesystem::is_empty(rundir, ignored); ++i) {
    absl::SleepFor(absl::Milliseconds(20));
  }
  EXPECT_TRUE(std::filesystem::is_empty(rundir, ignored)) << "rank directories left in " << rundir;
  std::filesystem::remove_all(rundir, ignored);
}

// (b) Flow 3 in bind mode: PMIx host, MPICH image (network only, as above).
TEST_F(ExecCharliecloudTest, MpichImageUnderMpirun) {
  BuildImage(/*ompi=*/false);
  testutil::RunResult run =
      RunChJob(Mpirun({}, BridgeExec({"--downstream", "pmi1"}, ChRunJoined({kMpichApp}))));
  EXPECT_EQ(run.exit_code, 0) << run.Describe();
  EXPECT_THAT(run.stdout_text, HasOneLinePerRank(kRanks, kCollectives)) << run.Describe();
}

// (c) Flow 4 in bind mode: PMI-1 host, Open MPI image; the node's PMIx
// server (one for the 4 ranks, started by the first bridge) is reached
// through each rank's pmix.sock. The ranks are local peers, and with
// Charliecloud's --join they share a container, so Open MPI's default
// shared memory works between them.
TEST_F(ExecCharliecloudTest, OpenMpiImageUnderHydra) {
  BuildImage(/*ompi=*/true);
  testutil::RunResult run = RunChJob(HydraWith(
      {}, BridgeExec({"--downstream", "pmix"}, ChRunJoined({kOmpiApp, absl::StrCat(kRanks)}))));
  EXPECT_EQ(run.exit_code, 0) << run.Describe();
  EXPECT_THAT(run.stdout_text, HasOneLinePerRank(kRanks, kCollectives)) << run.Describe();
}

// The documented by-hand form (deploy/charliecloud/README.md): the user
// writes the ch-run line and asks `pmi-bridge env` for the flags.
TEST_F(ExecCharliecloudTest, FlagsWrittenByHandWithPmiBridgeEnv) {
  BuildImage(/*ompi=*/false);
  const std::string env = absl::StrCat(bridge(), " env --for charliecloud --tools ", Tools());
  const std::string script =
      absl::StrCat("exec ", kChRun, " --join-ct=", kRanks, " --join-tag=", marker_, " $(", env,
                   " --flags) ", rootfs(), " -- $(", env, " --prefix) ", kMpichApp);
  testutil::RunResult run =
      RunChJob(HydraWith({}, BridgeExec({"--publish"}, {"/bin/sh", "-c", script})));
  EXPECT_EQ(run.exit_code, 0) << run.Describe();
  EXPECT_THAT(run.stdout_text, HasOneLinePerRank(kRanks, kCollectives)) << run.Describe();
}

// The by-hand form for the Open MPI image (PMIx through pmix.sock).
TEST_F(ExecCharliecloudTest, OpenMpiFlagsWrittenByHand) {
  BuildImage(/*ompi=*/true);
  const std::string env = absl::StrCat(bridge(), " env --for charliecloud --tools ", Tools());
  const std::string script =
      absl::StrCat("exec ", kChRun, " --join-ct=", kRanks, " --join-tag=", marker_, " $(", env,
                   " --flags) ", rootfs(), " -- $(", env, " --prefix) ", kOmpiApp, " ", kRanks);
  testutil::RunResult run = RunChJob(
      HydraWith({}, BridgeExec({"--publish", "--downstream", "pmix"}, {"/bin/sh", "-c", script})));
  EXPECT_EQ(run.exit_code, 0) << run.Describe();
  EXPECT_THAT(run.stdout_text, HasOneLinePerRank(kRanks, kCollectives)) << run.Describe();
}

// (d) The N-singletons symptom without pmi-shim: the MPICH image under a
// PMIx launcher cannot find a PMI-1 server, and ranks whose environment
// lost the launcher's variables (ch-run --unset-env, like apptainer
// --cleanenv) start alone: every rank says "rank 0 of 1".
TEST_F(ExecCharliecloudTest, SingletonsWithoutPmiShim) {
  BuildImage(/*ompi=*/false);
  const std::string singleton = "rank 0 of 1: allreduce=1 allgather=ok";
  testutil::RunResult mpirun = RunChJob(Mpirun({"-x", "UCX_TLS=tcp,self"}, ChRun({kMpichApp})));
  EXPECT_EQ(mpirun.exit_code, 0) << mpirun.Describe();
  EXPECT_EQ(RankLines(mpirun.stdout_text), std::vector<std::string>(kRanks, singleton))
      << mpirun.Describe();
  testutil::RunResult stripped =
      RunChJob(HydraWith({}, {kChRun, "--unset-env=PMI_*", rootfs(), "--", kMpichApp}));
  EXPECT_EQ(stripped.exit_code, 0) << stripped.Describe();
  EXPECT_EQ(RankLines(stripped.stdout_text), std::vector<std::string>(kRanks, singleton))
      << stripped.Describe();
}

// ... and `pmi-shim-client check`, run the same way, fails on every rank
// naming the symptom and the fix.
TEST_F(ExecCharliecloudTest, CheckCatchesSingletonsAndNamesTheFix) {
  BuildImage(/*ompi=*/false);
  testutil::RunResult run = RunChJob(
      HydraWith({}, {kChRun, "--unset-env=PMI_*", "-b", absl::StrCat(Tools(), ":/opt/pmi-shim"),
                     rootfs(), "--", kClientInImage, "check"}));
  EXPECT_NE(run.exit_code, 0) << run.Describe();
  const std::string all = run.stdout_text + run.stderr_text;
  EXPECT_THAT(all, HasSubstr("N-singletons")) << run.Describe();
  EXPECT_THAT(all, HasSubstr("-b $PMI_SHIM_DIR:$PMI_SHIM_DIR")) << run.Describe();
}

// A bridged rank whose ch-run line does not bind the rank directory (the
// user wrote it under `sh -c`, where nothing is rewritten) and whose /tmp
// is not the host's (-t): check says the directory is not mounted, and how
// to mount it.
// The commonest case of all: the MPICH image straight under a PMIx launcher
// (mpirun, srun --mpi=pmix). The PMIx server is reachable, but MPICH has no
// PMIx client: check reads the image and says so, with the fix.
TEST_F(ExecCharliecloudTest, CheckCatchesAnMpichImageUnderAPmixLauncher) {
  BuildImage(/*ompi=*/false);
  testutil::RunResult run =
      RunChJob(Mpirun({}, {kChRun, "-b", absl::StrCat(Tools(), ":/opt/pmi-shim"), rootfs(), "--",
                           kClientInImage, "check"}));
  EXPECT_NE(run.exit_code, 0) << run.Describe();
  const std::string all = run.stdout_text + run.stderr_text;
  EXPECT_THAT(all, HasSubstr("has no PMIx client")) << run.Describe();
  EXPECT_THAT(all, HasSubstr("N-singletons")) << run.Describe();
  EXPECT_THAT(all, HasSubstr("`pmi-bridge exec -- ...`, which serves this image's PMI client"))
      << run.Describe();
}

// The script stands for a wrapper that passes no fd (as most engines do):
// it closes the PMI_FD that the bridge hands any command it cannot tell
// from a bare program, so only the rank directory could reach the rank.
TEST_F(ExecCharliecloudTest, CheckCatchesAnUnboundRankDirectory) {
  BuildImage(/*ompi=*/false);
  const std::string script =
      absl::StrCat("exec {PMI_FD}>&-; exec ", kChRun, " -t -b ", Tools(), ":/opt/pmi-shim ",
                   rootfs(), " -- ", kClientInImage, " check");
  testutil::RunResult run =
      RunChJob(HydraWith({}, BridgeExec({"--publish"}, {"/bin/bash", "-c", script})));
  EXPECT_NE(run.exit_code, 0) << run.Describe();
  const std::string all = run.stdout_text + run.stderr_text;
  EXPECT_THAT(all, HasSubstr("is not mounted into the container")) << run.Describe();
  EXPECT_THAT(all, HasSubstr("-b $PMI_SHIM_DIR:$PMI_SHIM_DIR")) << run.Describe();
}

}  // namespace
}  // namespace pmi_shim::containers
