// Shared set-up of the container flow tests; see flow_fixture.h.
#include "test/containers/flow_fixture.h"

#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "gmock/gmock.h"
#include "nlohmann/json.hpp"
#include "test/testing/files.h"
#include "test/testing/netns_test_main.h"
#include "test/testing/processes.h"
#include "test/testing/rootfs.h"
#include "test/testing/runfiles.h"
#include "test/testing/status_matchers.h"

namespace pmi_shim::containers {
namespace {

std::string MustRunfile(const std::string& path) {
  absl::StatusOr<std::string> found = testutil::Runfile(path);
  EXPECT_OK(found);
  return found.ok() ? *found : path;
}

}  // namespace

void FlowTest::SetUp() {
  PMI_SHIM_REQUIRE_PRIVATE_NETNS();
  absl::StatusOr<ScratchDir> dir = ScratchDir::Create("ctf");
  ASSERT_OK(dir);
  scratch_.emplace(std::move(*dir));
  marker_ = testutil::UniqueMarkerValue();
  std::filesystem::create_directories(publish_dir());
  std::filesystem::create_directories(scratch() + "/hookstate");
  std::filesystem::create_directories(scratch() + "/tmp");

  // The admin config is written first: install.sh keeps an existing one.
  // Allowed: this test's publish dir and its TMPDIR (where mpirun keeps the
  // PMIx server tmpdir; /tmp in the shipped config); state and log in the
  // scratch dir.
  nlohmann::json config = {
      {"allowed_dirs", {publish_dir(), scratch() + "/tmp"}},
      {"gating", {{"annotation", true}, {"env", true}, {"auto", true}}},
      {"log_file", scratch() + "/hook.log"},
      {"tools_dir", prefix() + "/libexec/pmi-shim"},
      {"state_dir", scratch() + "/hookstate"},
      {"entrypoint_prefix", false},
  };
  std::filesystem::create_directories(prefix() + "/etc/pmi-shim");
  std::ofstream(admin_config()) << config.dump(2) << "\n";
  std::string runfiles_root =
      std::filesystem::path(MustRunfile("deploy/install.sh")).parent_path().parent_path();
  absl::StatusOr<testutil::RunResult> install = testutil::RunSubprocess(
      {"bash", MustRunfile("deploy/install.sh"), "--prefix", prefix(), "--from", runfiles_root}, {},
      absl::Seconds(60));
  ASSERT_OK(install);
  ASSERT_EQ(install->exit_code, 0) << install->Describe();
}

absl::Status FlowTest::StartDockerWithInstalledRuntime(const std::string& image) {
  nlohmann::json snippet;
  std::ifstream(prefix() + "/share/pmi-shim/docker-daemon.json") >> snippet;
  DockerOptions options;
  options.state_dir = scratch() + "/docker";
  options.runtimes_json = snippet["runtimes"];
  absl::StatusOr<std::unique_ptr<DockerDaemon>> daemon = DockerDaemon::Start(options);
  if (!daemon.ok()) return daemon.status();
  docker_ = std::move(*daemon);
  return docker_->Import(image_tar(), image);
}

void FlowTest::BuildImage(bool ompi, bool mount_points) {
  testutil::RootfsSpec spec;
  spec.applets = {"sh", "echo", "cat", "ls", "env", "mkdir", "rm", "sed", "sleep", "true"};
  spec.programs.push_back({MustRunfile("test/programs/bin/mpi_collectives"), kMpichApp});
  if (ompi) {
    spec.programs.push_back({MustRunfile("bridge/downstream/bin/pmix_ompi_app"), kOmpiApp});
    // Open MPI and PMIx dlopen() their components from these trees.
    spec.host_trees = {"/usr/lib/x86_64-linux-gnu/openmpi", "/usr/lib/x86_64-linux-gnu/pmix2",
                       "/etc/openmpi"};
  }
  if (mount_points) spec.dirs = {"/run/pmi-shim", "/opt/pmi-shim"};
  absl::Status built = testutil::BuildRootfs(rootfs(), spec);
  ASSERT_OK(built);
  absl::Status tar = testutil::WriteRootfsTar(rootfs(), image_tar());
  ASSERT_OK(tar);
}

void FlowTest::TearDown() {
  if (!scratch_) return;
  LeftoverScope scope;
  scope.mount_prefixes = {scratch(), "/run/pmi-shim"};
  scope.socket_prefixes = {scratch()};
  scope.empty_dirs = {publish_dir(), scratch() + "/hookstate"};
  scope.marker = marker_;
  scope.cmdline_substrings = {scratch()};
  if (runc_) scope.container_lists.push_back(runc_->ListArgv());
  if (podman_) scope.container_lists.push_back(podman_->ListArgv());
  if (docker_) {
    // The daemon is the test's fixture, not the job's leftover: its
    // containers are checked while it runs, then it is stopped (and must
    // stop cleanly) before the rest is looked at.
    LeftoverScope containers;
    containers.container_lists.push_back(docker_->ListArgv());
    EXPECT_EQ(DescribeLeftovers(containers), "") << "hook log:\n" << HookLog();
    EXPECT_EQ(docker_->Stop(), "");
  }
  // What the job left, before any cleanup hides it.
  std::string left = DescribeLeftovers(scope);
  EXPECT_EQ(left, "") << "hook log:\n" << HookLog();
  if (runc_) runc_->Cleanup();
  if (podman_) podman_->Cleanup();
  testutil::KillProcesses(testutil::ProcessesWithMarker(marker_));
  EXPECT_EQ(scratch_->Remove(), "");
}

bool FlowTest::Require(const std::vector<std::string>& programs) {
  for (const std::string& program : programs) {
    absl::Status why = EngineAvailability(program);
    if (!why.ok()) {
      ADD_FAILURE() << "not runnable here: " << why;
      return false;
    }
  }
  return true;
}

std::vector<std::string> FlowTest::BridgeExec(const std::vector<std::string>& extra,
                                              const std::vector<std::string>& command) const {
  std::vector<std::string> argv = {bridge(), "exec", "--publish-dir", publish_dir()};
  argv.insert(argv.end(), extra.begin(), extra.end());
  argv.push_back("--");
  argv.insert(argv.end(), command.begin(), command.end());
  return argv;
}

testutil::JobSpec FlowTest::Hydra(const std::vector<std::string>& command) {
  testutil::JobSpec spec = Direct(command);
  spec.launcher = testutil::Launcher::kHydra;
  return spec;
}

testutil::JobSpec FlowTest::Mpirun(const std::vector<std::string>& flags,
                                   const std::vector<std::string>& command) {
  testutil::JobSpec spec = Direct(command);
  spec.launcher = testutil::Launcher::kOpenMpi;
  spec.launcher_flags = flags;
  return spec;
}

testutil::JobSpec FlowTest::Direct(const std::vector<std::string>& argv) {
  testutil::JobSpec spec;
  spec.launcher = testutil::Launcher::kNone;
  spec.ranks = kRanks;
  spec.command = argv;
  spec.timeout = absl::Seconds(120);
  return spec;
}

testutil::RunResult FlowTest::RunJob(testutil::JobSpec spec) {
  spec.env.emplace_back("TMPDIR", scratch() + "/tmp");
  spec.marker = marker_;
  // conmon and the containerd shims end after the launcher.
  spec.leftover_grace = absl::Seconds(5);
  absl::StatusOr<testutil::JobResult> out = testutil::RunJob(spec);
  EXPECT_OK(out);
  if (!out.ok()) return {};
  EXPECT_THAT(out->leftovers, ::testing::IsEmpty()) << "left by the job; hook log:\n" << HookLog();
  // Give the engines' reapers a moment (conmon, containerd-shim: they name
  // the scratch dir, not the marker) before TearDown looks for leftovers.
  for (int i = 0; i < 100; ++i) {
    bool engine_busy = false;
    for (const testutil::ProcessInfo& p : testutil::ProcessesWithCmdline(scratch())) {
      // A Docker daemon fixture outlives jobs; its shims must not.
      const std::string cmd = p.CommandLine();
      if (!absl::StrContains(cmd, "dockerd --config-file") &&
          !absl::StrContains(cmd, "containerd --config")) {
        engine_busy = true;
      }
    }
    if (!engine_busy) break;
    absl::SleepFor(absl::Milliseconds(50));
  }
  return out->run;
}

std::string FlowTest::WriteRuncRankScript(const Runc& runc, BundleSpec spec) {
  spec.env.push_back("PMI_SHIM_DIR=@PMI_SHIM_DIR@");
  spec.root_path = rootfs();
  std::string templ = scratch() + "/config.json.in";
  std::ofstream(templ) << BundleConfig(spec).dump(2) << "\n";
  std::string script = scratch() + "/runc-rank.sh";
  // One bundle per rank: runc reads config.json from the bundle dir and
  // identifies containers by id. The bundle goes away with the container.
  std::ofstream(script) << absl::StrCat(
      "#!/bin/sh\n"
      "id=rank$$\n"
      "b=",
      ShellQuote(scratch()),
      "/bundles/$id\n"
      "mkdir -p \"$b\"\n"
      "sed \"s#@PMI_SHIM_DIR@#$PMI_SHIM_DIR#\" ",
      ShellQuote(templ), " > \"$b/config.json\"\n",
      absl::StrJoin(runc.RunArgv("\"$b\"", "\"$id\""), " "),
      "\n"
      "rc=$?\n"
      "rm -rf \"$b\"\n"
      "exit $rc\n");
  chmod(script.c_str(), 0755);
  return script;
}

std::string FlowTest::HookLog() const { return testutil::ReadFile(scratch() + "/hook.log"); }

}  // namespace pmi_shim::containers
