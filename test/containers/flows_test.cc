// End-to-end: design.md §5 flows 1-3 in real containers with private network
// namespaces, 4 ranks each, under real host launchers, through pmi-shim as
// deploy/install.sh installs it (hooks.d files for Podman, the daemon.json
// runtime snippet for Docker, the hook in a runc bundle). Each test asserts
// every rank's MPI result and, in TearDown, that no mount, socket, file,
// process or container is left.
//
//   flow 2 (fd host)       mpiexec.hydra -n 4 pmi-bridge exec -- runc | podman | docker
//   flow 3 (PMIx, MPICH)   mpirun.openmpi -n 4 pmi-bridge exec --downstream pmi1 -- podman
//   flow 1 (hook only)     mpirun.openmpi -n 4 podman run --annotation org.pmi-shim.enable=true
//                          --env 'PMIX_*' IMAGE pmix_ompi_app
//
// MPICH ranks in separate containers share host IPC and /dev/shm
// (real-peers.md); each container still has its own network namespace.
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "test/containers/flow_fixture.h"
#include "test/testing/rank_lines.h"
#include "test/testing/status_matchers.h"

namespace pmi_shim::containers {
namespace {

using ::testing::HasSubstr;
using testutil::HasOneLinePerRank;

constexpr char kMpichResult[] = "allreduce=10 allgather=ok";
constexpr char kImage[] = "localhost/pmi-shim-flow:1";

// MPICH's shared memory between ranks in different containers.
const std::vector<std::string> kSharedIpc = {"--ipc", "host", "-v", "/dev/shm:/dev/shm"};

std::vector<std::string> ClientExec(const std::string& app) {
  return {kClientInImage, "exec", "--", app};
}

std::vector<std::string> Concat(std::vector<std::string> a, const std::vector<std::string>& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

std::string Context(const testutil::RunResult& run, const std::string& hook_log) {
  return absl::StrCat(run.Describe(), "\nhook log:\n", hook_log.substr(0, 6000));
}

// A runc bundle for the MPICH program with pmi-shim-hook registered.
BundleSpec HookedMpichBundle(const std::string& hook, const std::string& admin_config) {
  BundleSpec spec;
  spec.args = ClientExec(kMpichApp);
  spec.root_readonly = true;                             // four containers share one rootfs
  spec.namespaces = {"pid", "network", "uts", "mount"};  // IPC shared (MPICH shm)
  spec.host_dev_shm = true;
  spec.hooks.create_runtime.push_back(
      {hook, {"pmi-shim-hook", "--config", admin_config, "createRuntime"}, {}, 10});
  spec.hooks.poststop.push_back(
      {hook, {"pmi-shim-hook", "--config", admin_config, "poststop"}, {}, 10});
  return spec;
}

TEST_F(FlowTest, Flow2HydraRuncBundleWithHook) {
  if (!Require({kRunc, testutil::kHydraProgram})) return;
  BuildImage(/*ompi=*/false);
  runc_.emplace(scratch() + "/runc");
  std::string rank_script = WriteRuncRankScript(*runc_, HookedMpichBundle(hook(), admin_config()));

  testutil::RunResult run = RunJob(Hydra(BridgeExec({}, {rank_script})));
  EXPECT_EQ(run.exit_code, 0) << Context(run, HookLog());
  EXPECT_THAT(run.stdout_text, HasOneLinePerRank(kRanks, kMpichResult)) << Context(run, HookLog());
  EXPECT_THAT(HookLog(), HasSubstr("PMI_SHIM_DIR"));
}

TEST_F(FlowTest, Flow2HydraPodmanWithDeployedHooksDir) {
  if (!Require({kPodman, testutil::kHydraProgram})) return;
  BuildImage(false);
  podman_.emplace(scratch() + "/podman", hooks_dir());
  ASSERT_OK(podman_->Import(image_tar(), kImage));
  // --env PMI_SHIM_DIR (no value): Podman copies it from its own environment,
  // where pmi-bridge exec put the rank directory's host path.
  std::vector<std::string> podman_run = podman_->RunArgv(
      Concat(kSharedIpc, {"--env", "PMI_SHIM_DIR"}), kImage, ClientExec(kMpichApp));
  testutil::RunResult run = RunJob(Hydra(BridgeExec({}, podman_run)));
  EXPECT_EQ(run.exit_code, 0) << Context(run, HookLog());
  EXPECT_THAT(run.stdout_text, HasOneLinePerRank(kRanks, kMpichResult)) << Context(run, HookLog());
}

TEST_F(FlowTest, Flow2HydraDockerDaemonWithDeployedRuntime) {
  if (!Require({kDocker, kDockerd, testutil::kHydraProgram})) return;
  BuildImage(false);
  // The runtimes entry exactly as install.sh wrote it for daemon.json.
  absl::Status docker = StartDockerWithInstalledRuntime("pmi-shim-flow:1");
  ASSERT_OK(docker);
  // Docker cannot pass fds and this daemon (API 1.41) has no --annotation:
  // the runtime wrapper gates on PMI_SHIM_DIR in the container's env.
  std::vector<std::string> docker_run =
      docker_->RunArgv(Concat(kSharedIpc, {"--runtime", "pmi-shim", "--env", "PMI_SHIM_DIR"}),
                       "pmi-shim-flow:1", ClientExec(kMpichApp));
  testutil::RunResult run = RunJob(Hydra(BridgeExec({}, docker_run)));
  EXPECT_EQ(run.exit_code, 0) << Context(run, HookLog()) << docker_->Log();
  EXPECT_THAT(run.stdout_text, HasOneLinePerRank(kRanks, kMpichResult)) << Context(run, HookLog());
}

TEST_F(FlowTest, Flow3MpirunPmixHostMpichImageInPodman) {
  if (!Require({kPodman, testutil::kOpenMpiProgram})) return;
  BuildImage(false);
  podman_.emplace(scratch() + "/podman", hooks_dir());
  ASSERT_OK(podman_->Import(image_tar(), kImage));
  std::vector<std::string> podman_run = podman_->RunArgv(
      Concat(kSharedIpc, {"--env", "PMI_SHIM_DIR"}), kImage, ClientExec(kMpichApp));
  testutil::RunResult run = RunJob(Mpirun({}, BridgeExec({"--downstream", "pmi1"}, podman_run)));
  EXPECT_EQ(run.exit_code, 0) << Context(run, HookLog());
  EXPECT_THAT(run.stdout_text, HasOneLinePerRank(kRanks, kMpichResult)) << Context(run, HookLog());
}

TEST_F(FlowTest, Flow3MpirunPmixHostMpichImageInRunc) {
  if (!Require({kRunc, testutil::kOpenMpiProgram})) return;
  BuildImage(/*ompi=*/false);
  runc_.emplace(scratch() + "/runc");
  std::string rank_script = WriteRuncRankScript(*runc_, HookedMpichBundle(hook(), admin_config()));
  testutil::RunResult run = RunJob(Mpirun({}, BridgeExec({"--downstream", "pmi1"}, {rank_script})));
  EXPECT_EQ(run.exit_code, 0) << Context(run, HookLog());
  EXPECT_THAT(run.stdout_text, HasOneLinePerRank(kRanks, kMpichResult)) << Context(run, HookLog());
}

TEST_F(FlowTest, Flow3MpirunPmixHostMpichImageInDocker) {
  if (!Require({kDocker, kDockerd, testutil::kOpenMpiProgram})) return;
  BuildImage(false);
  absl::Status docker = StartDockerWithInstalledRuntime("pmi-shim-flow:1");
  ASSERT_OK(docker);
  std::vector<std::string> docker_run =
      docker_->RunArgv(Concat(kSharedIpc, {"--runtime", "pmi-shim", "--env", "PMI_SHIM_DIR"}),
                       "pmi-shim-flow:1", ClientExec(kMpichApp));
  testutil::RunResult run = RunJob(Mpirun({}, BridgeExec({"--downstream", "pmi1"}, docker_run)));
  EXPECT_EQ(run.exit_code, 0) << Context(run, HookLog()) << docker_->Log();
  EXPECT_THAT(run.stdout_text, HasOneLinePerRank(kRanks, kMpichResult)) << Context(run, HookLog());
}

TEST_F(FlowTest, Flow1MpirunHookOnlyOpenMpiImageInPodman) {
  if (!Require({kPodman, testutil::kOpenMpiProgram})) return;
  BuildImage(/*ompi=*/true);
  podman_.emplace(scratch() + "/podman", hooks_dir());
  ASSERT_OK(podman_->Import(image_tar(), kImage));
  // Open MPI's shared-memory BTL needs one pid namespace (it segfaults
  // across them) and its TCP BTL cannot cross private network namespaces:
  // the ranks share the host's pid and IPC namespaces and /dev/shm, each
  // keeps its own network namespace.
  std::vector<std::string> podman_run = podman_->RunArgv(
      Concat(kSharedIpc, {"--pid", "host", "--annotation", "org.pmi-shim.enable=true", "--env",
                          "PMIX_*", "--env", "OMPI_*"}),
      kImage, {kOmpiApp, absl::StrCat(kRanks)});
  testutil::RunResult run =
      RunJob(Mpirun({"--mca", "btl", "self,vader", "--mca", "btl_vader_single_copy_mechanism",
                     "none", "--mca", "btl_vader_backing_directory", "/dev/shm"},
                    podman_run));
  EXPECT_EQ(run.exit_code, 0) << Context(run, HookLog());
  EXPECT_THAT(run.stdout_text, HasOneLinePerRank(kRanks, kMpichResult)) << Context(run, HookLog());
  // The hook, not a host network, made mpirun's 127.0.0.1:PORT reachable.
  EXPECT_THAT(HookLog(), HasSubstr("annotation org.pmi-shim.enable=true"));
  EXPECT_THAT(HookLog(), HasSubstr(R"(relays\":[{\"address\":\"127.0.0.1\")"));
}

// The static part through CDI instead of a hooks dir: `pmi-shim-hook cdi`
// writes the spec, Podman 4.3 reads it (only from /etc/cdi or /var/run/cdi,
// so the test puts it on a tmpfs over /run in a mount namespace of its own)
// and `--device pmi-shim.org/shim=tools` brings the client in read-only.
TEST_F(FlowTest, CdiSpecBringsTheShimIntoAPodmanContainer) {
  if (!Require({kPodman, "/usr/bin/unshare"})) return;
  BuildImage(false);
  podman_.emplace(scratch() + "/podman");  // no hooks dir: only the CDI spec names the hook
  ASSERT_OK(podman_->Import(image_tar(), kImage));
  const std::vector<std::string> podman_run = podman_->RunArgv(
      {"--device", "pmi-shim.org/shim=tools"}, kImage,
      {"/bin/sh", "-c",
       "grep ' /opt/pmi-shim ' /proc/mounts; /opt/pmi-shim/bin/pmi-shim-client --help | head -1; "
       "/opt/pmi-shim/bin/pmi-shim-client check; echo check=$?"});
  std::vector<std::string> argv = {
      "/usr/bin/unshare",
      "--mount",
      "--propagation",
      "private",
      "/bin/sh",
      "-c",
      "mount -t tmpfs tmpfs /run && mkdir /run/cdi && "
      "\"$0\" cdi --prefix \"$1\" --output /run/cdi/pmi-shim.json && shift && exec \"$@\"",
      hook(),
      prefix()};
  argv.insert(argv.end(), podman_run.begin(), podman_run.end());
  testutil::RunResult run = RunJob(Direct(argv));
  EXPECT_EQ(run.exit_code, 0) << run.Describe();
  EXPECT_THAT(run.stdout_text, HasSubstr(" /opt/pmi-shim ")) << run.Describe();
  EXPECT_THAT(run.stdout_text, HasSubstr(" ro,")) << "the tools must be read-only\n"
                                                  << run.Describe();
  EXPECT_THAT(run.stdout_text, HasSubstr("usage: pmi-shim-client")) << run.Describe();
  // No launcher here: the client that CDI brought in says so.
  EXPECT_THAT(run.stdout_text, HasSubstr("check=1")) << run.Describe();
  EXPECT_THAT(run.stderr_text, HasSubstr("N-singletons")) << run.Describe();
}

}  // namespace
}  // namespace pmi_shim::containers
