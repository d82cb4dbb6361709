// End-to-end: pmi-shim with no pmi-bridge flags, as sites really run
// containers (issue 12, items 2 and 3), 4 ranks each, in real containers
// with private network namespaces, through pmi-shim as deploy/install.sh
// installs it. The only site setting is PMI_SHIM_RUNDIR (where rank
// directories go, inside the test's scratch dir): no --publish, no
// --publish-dir, no --downstream.
//
//   wrapped engines   mpiexec.hydra -n 4 pmi-bridge exec -- site-runc IMAGE APP
//                     mpiexec.hydra -n 4 pmi-bridge exec -- site-podman IMAGE APP
//     A site's script around runc (writes config.json from its own
//     environment, like shifter, sarus or enroot) or around Podman (copies
//     PMI_* into the container, like podman-hpc). The bridge cannot tell
//     them from a bare program, so it hands them a PMI_FD *and* publishes
//     the rank directory; the fd number arrives in the container dead, and
//     pmi-shim-client falls back to the directory, saying so once.
//   any image         mpirun.openmpi (PMIx) × MPICH image in runc
//                     mpiexec.hydra (PMI-1)  × Open MPI image in runc
//     The bridge offers pmi.sock and the PMIx side; pmi-shim-client picks
//     by what the program links.
//
// Each test asserts every rank's result and job size; TearDown asserts that
// no mount, socket, file, process or container is left.
#include <sys/stat.h>

#include <fstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "test/containers/flow_fixture.h"
#include "test/testing/launcher.h"
#include "test/testing/rank_lines.h"
#include "test/testing/status_matchers.h"

namespace pmi_shim::containers {
namespace {

using ::testing::HasSubstr;
using testutil::HasOneLinePerRank;

constexpr char kMpichResult[] = "allreduce=10 allgather=ok";
constexpr char kImage[] = "localhost/pmi-shim-wrapped:1";

std::string Context(const testutil::RunResult& run, const std::string& hook_log) {
  return absl::StrCat(run.Describe(), "\nhook log:\n", hook_log.substr(0, 6000));
}

int CountOf(const std::string& text, const std::string& needle) {
  int count = 0;
  for (size_t at = text.find(needle); at != std::string::npos; at = text.find(needle, at + 1)) {
    ++count;
  }
  return count;
}

class WrappedEngineTest : public FlowTest {
 protected:
  // `pmi-bridge exec -- COMMAND`: no flags at all.
  std::vector<std::string> PlainBridge(const std::vector<std::string>& command) const {
    return testutil::BridgeExec({}, command, bridge());
  }

  // `spec` with the site's one setting.
  testutil::JobSpec AtTheSite(testutil::JobSpec spec) const {
    spec.env.emplace_back("PMI_SHIM_RUNDIR", publish_dir());
    return spec;
  }

  // A site's runc wrapper: `site-runc COMMAND...` runs COMMAND in the
  // image with runc, the site's hooks registered, and the PMI_*, PMIX_* and
  // OMPI_* variables of its own environment copied into config.json (what
  // shifter, sarus and enroot do with the whole environment).
  std::string WriteSiteRuncWrapper(BundleSpec spec) {
    runc_.emplace(scratch() + "/runc");
    spec.root_path = rootfs();
    spec.args = {"@ARGS@"};
    spec.env.push_back("@ENV@");
    std::string templ = scratch() + "/site-config.json.in";
    std::ofstream(templ) << BundleConfig(spec).dump(2) << "\n";
    std::string script = scratch() + "/site-runc";
    std::ofstream(script) << absl::StrCat(
        "#!/bin/bash\n"
        "# A site's container wrapper: nothing in it knows pmi-shim.\n"
        "set -e\n"
        "quote() { local s=${1//\\\\/\\\\\\\\}; s=${s//\\\"/\\\\\\\"}; printf '\"%s\"' \"$s\"; }\n"
        "env_json=\n"
        "while IFS= read -r -d '' entry; do\n"
        "  case $entry in PMI_*|PMIX_*|OMPI_*) env_json+=\"$(quote \"$entry\"),\";; esac\n"
        "done < <(env -0)\n"
        "args_json=\n"
        "for a in \"$@\"; do args_json+=\"$(quote \"$a\"),\"; done\n"
        "id=site$$\n"
        "b=",
        ShellQuote(scratch()),
        "/bundles/$id\n"
        "mkdir -p \"$b\"\n"
        "while IFS= read -r line; do\n"
        "  case $line in\n"
        "    *'\"@ENV@\"'*) printf '%s\\n' \"${env_json%,}\";;\n"
        "    *'\"@ARGS@\"'*) printf '%s\\n' \"${args_json%,}\";;\n"
        "    *) printf '%s\\n' \"$line\";;\n"
        "  esac\n"
        "done < ",
        ShellQuote(templ),
        " > \"$b/config.json\"\n"
        "rc=0\n",
        absl::StrJoin(runc_->RunArgv("\"$b\"", "\"$id\""), " "),
        " || rc=$?\n"
        "rm -rf \"$b\"\n"
        "exit $rc\n");
    chmod(script.c_str(), 0755);
    return script;
  }

  // A site's Podman wrapper: `site-podman IMAGE COMMAND...` = podman run
  // with the site's flags and `--env 'PMI_*'` (the launcher's variables go
  // in; the fds do not: Podman passes none without --preserve-fds).
  std::string WriteSitePodmanWrapper() {
    podman_.emplace(scratch() + "/podman", hooks_dir());
    std::vector<std::string> run = podman_->RunArgv(
        {"--ipc", "host", "-v", "/dev/shm:/dev/shm", "--env", "PMI_*", "--env", "PMIX_*"}, "@", {});
    run.pop_back();  // the image: the wrapper's first argument
    std::vector<std::string> quoted;
    for (const std::string& word : run) quoted.push_back(ShellQuote(word));
    std::string script = scratch() + "/site-podman";
    std::ofstream(script) << absl::StrCat("#!/bin/sh\n# A site's podman wrapper.\nexec ",
                                          absl::StrJoin(quoted, " "), " \"$@\"\n");
    chmod(script.c_str(), 0755);
    return script;
  }

  static BundleSpec SharedIpcBundle(const std::string& hook, const std::string& admin_config) {
    BundleSpec spec;
    spec.root_readonly = true;                             // the ranks share one rootfs
    spec.namespaces = {"pid", "network", "uts", "mount"};  // IPC shared (MPICH shm)
    spec.host_dev_shm = true;
    spec.hooks.create_runtime.push_back(
        {hook, {"pmi-shim-hook", "--config", admin_config, "createRuntime"}, {}, 10});
    spec.hooks.poststop.push_back(
        {hook, {"pmi-shim-hook", "--config", admin_config, "poststop"}, {}, 10});
    return spec;
  }
};

TEST_F(WrappedEngineTest, SiteScriptAroundRuncUnderHydraNoFlags) {
  if (!Require({kRunc, testutil::kHydraProgram, "/bin/bash"})) return;
  BuildImage(/*ompi=*/false);
  const std::string wrapper = WriteSiteRuncWrapper(SharedIpcBundle(hook(), admin_config()));
  testutil::RunResult run =
      RunJob(AtTheSite(Hydra(PlainBridge({wrapper, kClientInImage, "exec", "--", kMpichApp}))));
  EXPECT_EQ(run.exit_code, 0) << Context(run, HookLog());
  EXPECT_THAT(run.stdout_text, HasOneLinePerRank(kRanks, kMpichResult)) << Context(run, HookLog());
  // Each rank's PMI_FD arrived as a dead number; each client said so, once.
  EXPECT_EQ(CountOf(run.stderr_text, "pmi-shim-client: inherited PMI_FD="), kRanks)
      << run.Describe();
  EXPECT_EQ(CountOf(run.stderr_text, "is not a usable socket here"), kRanks) << run.Describe();
  EXPECT_EQ(CountOf(run.stderr_text, "using the rank directory /run/pmi-shim"), kRanks)
      << run.Describe();
  EXPECT_THAT(HookLog(), HasSubstr("process.env has PMI_SHIM_DIR (auto)"));
}

TEST_F(WrappedEngineTest, SiteScriptAroundPodmanUnderHydraNoFlags) {
  if (!Require({kPodman, testutil::kHydraProgram})) return;
  BuildImage(/*ompi=*/false);
  const std::string wrapper = WriteSitePodmanWrapper();
  ASSERT_OK(podman_->Import(image_tar(), kImage));
  testutil::RunResult run = RunJob(
      AtTheSite(Hydra(PlainBridge({wrapper, kImage, kClientInImage, "exec", "--", kMpichApp}))));
  EXPECT_EQ(run.exit_code, 0) << Context(run, HookLog());
  EXPECT_THAT(run.stdout_text, HasOneLinePerRank(kRanks, kMpichResult)) << Context(run, HookLog());
  EXPECT_EQ(CountOf(run.stderr_text, "is not a usable socket here"), kRanks) << run.Describe();
  EXPECT_EQ(CountOf(run.stderr_text, "pmi-shim-client: inherited PMI_FD="), kRanks)
      << run.Describe();
}

// --no-publish brings back the old failure mode on purpose: the hook is the
// one place that sees the container's config, and it says what is wrong.
TEST_F(WrappedEngineTest, HookNotesAPmiFdWithoutARankDirectory) {
  if (!Require({kPodman, testutil::kHydraProgram})) return;
  BuildImage(/*ompi=*/false);
  const std::string wrapper = WriteSitePodmanWrapper();
  ASSERT_OK(podman_->Import(image_tar(), kImage));
  testutil::JobSpec spec =
      AtTheSite(Hydra({bridge(), "exec", "--no-publish", "--", wrapper, kImage, "/bin/true"}));
  spec.ranks = 1;
  spec.timeout = absl::Seconds(60);
  testutil::RunResult run = RunJob(spec);
  EXPECT_EQ(run.exit_code, 0) << Context(run, HookLog());
  EXPECT_THAT(HookLog(), HasSubstr("carries PMI_FD="));
  EXPECT_THAT(HookLog(), HasSubstr("but no PMI_SHIM_DIR"));
}

// Issue 12 item 3: an MPICH image under a PMIx launcher, no --downstream.
TEST_F(WrappedEngineTest, MpichImageUnderMpirunInRuncNoFlags) {
  if (!Require({kRunc, testutil::kOpenMpiProgram})) return;
  BuildImage(/*ompi=*/false);
  runc_.emplace(scratch() + "/runc");
  BundleSpec spec = SharedIpcBundle(hook(), admin_config());
  spec.args = {kClientInImage, "exec", "--", kMpichApp};
  const std::string rank_script = WriteRuncRankScript(*runc_, spec);
  testutil::RunResult run = RunJob(AtTheSite(Mpirun({}, PlainBridge({rank_script}))));
  EXPECT_EQ(run.exit_code, 0) << Context(run, HookLog());
  EXPECT_THAT(run.stdout_text, HasOneLinePerRank(kRanks, kMpichResult)) << Context(run, HookLog());
}

// Issue 12 item 3: an Open MPI image under a PMI-1 launcher, no --downstream.
// Each rank's bridge hosts a PMIx server of its own, which (rightly) tells
// Open MPI that the other ranks are not on its node: Open MPI then talks
// TCP between them, which cannot cross private network namespaces, so these
// containers share the test's (private, loopback-only) network namespace,
// as the Charliecloud Open MPI test does; pid, mount and uts stay private.
TEST_F(WrappedEngineTest, OpenMpiImageUnderHydraInRuncNoFlags) {
  if (!Require({kRunc, testutil::kHydraProgram})) return;
  BuildImage(/*ompi=*/true);
  runc_.emplace(scratch() + "/runc");
  BundleSpec spec = SharedIpcBundle(hook(), admin_config());
  spec.namespaces = {"pid", "uts", "mount"};
  // The rootfs is shared read-only; Open MPI writes its session dir to /tmp.
  spec.mounts.push_back({"/tmp", "tmpfs", "tmpfs", {"nosuid", "nodev", "mode=1777"}});
  spec.env.push_back("OMPI_MCA_btl=self,tcp");
  spec.env.push_back("OMPI_MCA_pml=ob1");
  // What RunJob gives every job (the namespace has only lo, which Open
  // MPI's TCP transport leaves out by default); a bundle does not inherit it.
  spec.env.push_back("OMPI_MCA_btl_tcp_if_include=lo");
  spec.args = {kClientInImage, "exec", "--", kOmpiApp, absl::StrCat(kRanks)};
  const std::string rank_script = WriteRuncRankScript(*runc_, spec);
  testutil::RunResult run = RunJob(AtTheSite(Hydra(PlainBridge({rank_script}))));
  EXPECT_EQ(run.exit_code, 0) << Context(run, HookLog());
  EXPECT_THAT(run.stdout_text, HasOneLinePerRank(kRanks, kMpichResult)) << Context(run, HookLog());
}

}  // namespace
}  // namespace pmi_shim::containers
