// Shared set-up of the container flow tests; see flow_fixture.h.
#include "test/containers/flow_fixture.h"

#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <map>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "gmock/gmock.h"
#include "nlohmann/json.hpp"
#include "test/testing/netns_test_main.h"
#include "test/testing/processes.h"
#include "test/testing/rootfs.h"
#include "test/testing/runfiles.h"

namespace pmi_shim::containers {
namespace {

std::string MustRunfile(const std::string& path) {
  absl::StatusOr<std::string> found = testutil::Runfile(path);
  EXPECT_TRUE(found.ok()) << found.status();
  return found.ok() ? *found : path;
}

}  // namespace

void FlowTest::SetUp() {
  PMI_SHIM_REQUIRE_PRIVATE_NETNS();
  absl::StatusOr<ScratchDir> dir = ScratchDir::Create("ctf");
  ASSERT_TRUE(dir.ok()) << dir.status();
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
      {"bash", MustRunfile("deploy/install.sh"), "--prefix", prefix(), "--from", runfiles_root},
      {}, absl::Seconds(60));
  ASSERT_TRUE(install.ok()) << install.status();
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

void FlowTest::BuildImage(bool ompi) {
  testutil::RootfsSpec spec;
  spec.applets = {"sh", "echo", "cat", "ls", "env", "mkdir", "rm", "sed", "sleep", "true"};
  spec.programs.push_back({MustRunfile("test/programs/bin/mpi_collectives"), kMpichApp});
  if (ompi) {
    spec.programs.push_back({MustRunfile("bridge/downstream/bin/pmix_ompi_app"), kOmpiApp});
    // Open MPI and PMIx dlopen() their components from these trees.
    spec.host_trees = {"/usr/lib/x86_64-linux-gnu/openmpi", "/usr/lib/x86_64-linux-gnu/pmix2",
                       "/etc/openmpi"};
  }
  spec.dirs = {"/run/pmi-shim", "/opt/pmi-shim"};
  absl::Status built = testutil::BuildRootfs(rootfs(), spec);
  ASSERT_TRUE(built.ok()) << built;
  absl::Status tar = testutil::WriteRootfsTar(rootfs(), image_tar());
  ASSERT_TRUE(tar.ok()) << tar;
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

std::vector<std::string> FlowTest::Hydra(const std::vector<std::string>& command) {
  std::vector<std::string> argv = {"/usr/bin/mpiexec.hydra", "-n", absl::StrCat(kRanks)};
  argv.insert(argv.end(), command.begin(), command.end());
  return argv;
}

std::vector<std::string> FlowTest::Mpirun(const std::vector<std::string>& mca,
                                          const std::vector<std::string>& command) {
  std::vector<std::string> argv = {"/usr/bin/mpirun.openmpi", "--allow-run-as-root",
                                   "--oversubscribe", "--mca", "oob_tcp_if_include", "lo",
                                   "--mca", "btl_tcp_if_include", "lo"};
  argv.insert(argv.end(), mca.begin(), mca.end());
  argv.insert(argv.end(), {"-n", absl::StrCat(kRanks)});
  argv.insert(argv.end(), command.begin(), command.end());
  return argv;
}

testutil::RunResult FlowTest::RunJob(const std::vector<std::string>& argv,
                                     absl::Duration timeout) {
  testutil::RunOptions options;
  options.argv = argv;
  options.env = {{testutil::kMarkerVar, marker_}, {"TMPDIR", scratch() + "/tmp"}};
  // The test may itself run under a launcher: the jobs see only their own.
  options.unset_env = {"PMI_FD",           "PMI_PORT",         "PMI_ID",
                       "PMI_RANK",         "PMI_SIZE",         "PMIX_NAMESPACE",
                       "PMIX_RANK",        "PMIX_SERVER_URI2", "PMIX_SERVER_URI21",
                       "PMIX_SERVER_URI3", "PMIX_SERVER_URI4", "PMIX_SERVER_URI41",
                       "PMI_SHIM_DIR"};
  options.timeout = timeout;
  absl::StatusOr<testutil::RunResult> run = testutil::RunSubprocess(options);
  EXPECT_TRUE(run.ok()) << run.status();
  if (!run.ok()) return {};
  // Give the engines' reapers a moment (conmon, containerd-shim) before
  // TearDown looks for leftovers.
  for (int i = 0; i < 100; ++i) {
    bool engine_busy = false;
    for (const auto& [pid, cmd] : ProcessesWithCmdline(scratch())) {
      // A Docker daemon fixture outlives jobs; its shims must not.
      if (!absl::StrContains(cmd, "dockerd --config-file") &&
          !absl::StrContains(cmd, "containerd --config")) {
        engine_busy = true;
      }
    }
    if (!engine_busy && testutil::ProcessesWithMarker(marker_).empty()) {
      break;
    }
    absl::SleepFor(absl::Milliseconds(50));
  }
  return *std::move(run);
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
      "b=", ShellQuote(scratch()), "/bundles/$id\n"
      "mkdir -p \"$b\"\n"
      "sed \"s#@PMI_SHIM_DIR@#$PMI_SHIM_DIR#\" ", ShellQuote(templ), " > \"$b/config.json\"\n",
      absl::StrJoin(runc.RunArgv("\"$b\"", "\"$id\""), " "), "\n"
      "rc=$?\n"
      "rm -rf \"$b\"\n"
      "exit $rc\n");
  chmod(script.c_str(), 0755);
  return script;
}

std::string FlowTest::HookLog() const { return ReadSmallFile(scratch() + "/hook.log"); }

void ExpectEveryRank(const std::string& out, int ranks, const std::string& tail,
                     const std::string& context) {
  std::map<int, std::string> seen;
  for (absl::string_view line : absl::StrSplit(out, '\n', absl::SkipEmpty())) {
    int rank = -1;
    int size = -1;
    std::string text(line);
    if (sscanf(text.c_str(), "rank %d of %d:", &rank, &size) != 2) continue;
    EXPECT_EQ(size, ranks) << "a rank saw another job size (singletons?): " << text << "\n"
                           << context;
    seen[rank] = std::string(absl::StripAsciiWhitespace(text.substr(text.find(':') + 1)));
  }
  for (int r = 0; r < ranks; ++r) {
    auto it = seen.find(r);
    if (it == seen.end()) {
      ADD_FAILURE() << "rank " << r << " printed nothing\n" << context;
      continue;
    }
    EXPECT_EQ(it->second, tail) << "rank " << r << "\n" << context;
  }
}

}  // namespace pmi_shim::containers
