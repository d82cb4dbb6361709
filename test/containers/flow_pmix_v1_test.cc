// End-to-end: a PMIx v1.2 client (the peers lab's OpenPMIx 1.2.5, usock
// only) in runc containers with private network, pid, uts and mount
// namespaces, 4 ranks under mpiexec.hydra, each rank
//   pmi-bridge exec --publish-dir PUB -- run-rank.sh BUNDLE
// with pmi-shim as deploy/install.sh installs it (the hook in the bundle).
// Nothing tells the bridge what the image speaks: it reads the bundle named
// on the command line, finds libpmix 1.2.5 and serves the native v1.2
// endpoint in RANKDIR/pmix-v1, named to the container as PMIX_SERVER_TMPDIR;
// the hook mounts the rank directory at /run/pmi-shim and that one
// read-write at its own path, and pmi-shim-client execs the client with its
// socket and data-store paths. Every rank must print its OK line with the job size;
// TearDown asserts that nothing is left.
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "test/containers/engines.h"
#include "test/containers/flow_fixture.h"
#include "test/containers/oci_bundle.h"
#include "test/testing/rootfs.h"
#include "test/testing/runfiles.h"

namespace pmi_shim::containers {
namespace {

using ::testing::HasSubstr;

constexpr char kLab[] = "/opt/pmi-shim-peers/openpmix-1.2.5";
constexpr char kV1App[] = "/app/pmix_v1_client";

TEST_F(FlowTest, PmixV1ClientInRuncWithPrivateNetworkUnderHydra) {
  if (!Require({kRunc, "/usr/bin/mpiexec.hydra"})) return;
  if (::access(absl::StrCat(kLab, "/lib/libpmix.so.2").c_str(), R_OK) != 0) {
    GTEST_SKIP() << "the peers lab's OpenPMIx 1.2.5 is not installed";
  }
  absl::StatusOr<std::string> client = testutil::Runfile("test/programs/bin/pmix_v1_client");
  ASSERT_TRUE(client.ok()) << client.status();
  // The image: busybox, the client, and the 1.2.5 tree at its own path
  // (the client's RUNPATH), with the libraries they need.
  testutil::RootfsSpec image;
  image.applets = {"sh", "echo", "cat", "ls", "env", "true"};
  image.programs.push_back({*client, kV1App});
  image.host_trees = {kLab};
  // The hook mounts each rank's v1.2 directory at its host path, under the
  // publish dir: made in the image, so that the four containers sharing
  // this rootfs only ever create (and remove) their own rank's part.
  image.dirs = {"/run/pmi-shim", "/opt/pmi-shim", publish_dir()};
  ASSERT_TRUE(testutil::BuildRootfs(rootfs(), image).ok());

  // One bundle the ranks copy, with PMI_SHIM_DIR filled in per rank.
  BundleSpec spec;
  spec.args = {kClientInImage, "exec", "--", kV1App, "--keys", "4"};
  spec.env.push_back("PMI_SHIM_DIR=@PMI_SHIM_DIR@");
  // The bridge names its v1.2 directory so; the hook mounts it read-write.
  spec.env.push_back("PMIX_SERVER_TMPDIR=@PMIX_SERVER_TMPDIR@");
  spec.root_path = rootfs();
  spec.root_readonly = true;  // four containers share one rootfs
  spec.namespaces = {"pid", "network", "uts", "mount", "ipc"};
  spec.hooks.create_runtime.push_back(
      {hook(), {"pmi-shim-hook", "--config", admin_config(), "createRuntime"}, {}, 10});
  spec.hooks.poststop.push_back(
      {hook(), {"pmi-shim-hook", "--config", admin_config(), "poststop"}, {}, 10});
  const std::string bundle = scratch() + "/v1-bundle";
  std::filesystem::create_directories(bundle);
  std::ofstream(bundle + "/config.json") << BundleConfig(spec).dump(2) << "\n";

  runc_.emplace(scratch() + "/runc");
  const std::string script = scratch() + "/run-rank.sh";
  std::ofstream(script) << absl::StrCat(
      "#!/bin/sh\n"
      "# run-rank.sh BUNDLE: one runc container per rank from BUNDLE's config.\n"
      "id=rank$$\n"
      "b=",
      ShellQuote(scratch()),
      "/bundles/$id\n"
      "mkdir -p \"$b\"\n"
      "sed -e \"s#@PMI_SHIM_DIR@#$PMI_SHIM_DIR#\"",
      " -e \"s#@PMIX_SERVER_TMPDIR@#$PMIX_SERVER_TMPDIR#\" \"$1/config.json\" > "
      "\"$b/config.json\"\n",
      absl::StrJoin(runc_->RunArgv("\"$b\"", "\"$id\""), " "),
      "\n"
      "rc=$?\n"
      "rm -rf \"$b\"\n"
      "exit $rc\n");
  ::chmod(script.c_str(), 0755);

  testutil::RunResult run = RunJob(Hydra(BridgeExec({}, {script, bundle})));
  const std::string context =
      absl::StrCat(run.Describe(), "\nhook log:\n", HookLog().substr(0, 6000));
  EXPECT_EQ(run.exit_code, 0) << context;
  for (int rank = 0; rank < kRanks; ++rank) {
    EXPECT_THAT(run.stdout_text,
                HasSubstr(absl::StrFormat("OK rank %d size %d peers 0,1,2,3 host ", rank, kRanks)))
        << context;
  }
  EXPECT_THAT(run.stdout_text, HasSubstr(absl::StrCat("keys ", 4 * kRanks))) << context;
  EXPECT_THAT(HookLog(), HasSubstr("PMI_SHIM_DIR"));
}

}  // namespace
}  // namespace pmi_shim::containers
