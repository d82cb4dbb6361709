// Each engine fixture really runs a busybox container in a network namespace
// of its own (only `lo`, a namespace other than the test's) and leaves no
// mount, socket, process, container or file behind. Also reports how long a
// private dockerd takes to start and stop.
#include <unistd.h>

#include <filesystem>
#include <iostream>
#include <memory>
#include <optional>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "test/containers/engines.h"
#include "test/containers/leftovers.h"
#include "test/containers/oci_bundle.h"
#include "test/testing/netns_test_main.h"
#include "test/testing/rootfs.h"
#include "test/testing/status_matchers.h"
#include "test/testing/subprocess.h"

namespace pmi_shim::containers {
namespace {

using ::testing::HasSubstr;

// Prints "hi", the container's network namespace and its interfaces.
const std::vector<std::string> kProbe = {"/bin/sh", "-c",
                                         "echo hi; readlink /proc/self/ns/net; ls /sys/class/net"};

class EngineSmokeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    PMI_SHIM_REQUIRE_PRIVATE_NETNS();
    absl::StatusOr<ScratchDir> dir = ScratchDir::Create("ct");
    ASSERT_OK(dir);
    scratch_.emplace(std::move(*dir));
    rootfs_ = scratch_->path() + "/bundle/rootfs";
    testutil::RootfsSpec spec;
    spec.applets = {"sh", "echo", "readlink", "ls", "cat"};
    ASSERT_OK(testutil::BuildRootfs(rootfs_, spec));
    test_netns_ = std::filesystem::read_symlink("/proc/self/ns/net").string();
  }

  void TearDown() override {
    if (!scratch_) return;
    EXPECT_EQ(DescribeLeftovers(Scope()), "");
    EXPECT_EQ(scratch_->Remove(), "");
  }

  LeftoverScope Scope() const {
    LeftoverScope scope;
    scope.mount_prefixes = {scratch_->path()};
    scope.socket_prefixes = {scratch_->path()};
    scope.cmdline_substrings = {scratch_->path()};
    scope.container_lists = container_lists_;
    return scope;
  }

  absl::Status ImageTar() {
    return testutil::WriteRootfsTar(rootfs_, scratch_->path() + "/image.tar");
  }

  void ExpectPrivateNetwork(const testutil::RunResult& r) {
    std::vector<std::string> lines = absl::StrSplit(r.stdout_text, '\n', absl::SkipEmpty());
    ASSERT_EQ(lines.size(), 3u) << r.Describe();
    EXPECT_EQ(lines[0], "hi");
    EXPECT_THAT(lines[1], HasSubstr("net:["));
    EXPECT_NE(lines[1], test_netns_) << "the container shares the test's network namespace";
    EXPECT_EQ(lines[2], "lo") << "interfaces other than lo inside the container";
  }

  std::optional<ScratchDir> scratch_;
  std::string rootfs_;
  std::string test_netns_;
  std::vector<std::vector<std::string>> container_lists_;
};

TEST_F(EngineSmokeTest, RuncRunsBusyboxWithPrivateNetwork) {
  absl::Status why = EngineAvailability(kRunc);
  if (!why.ok()) GTEST_SKIP() << why;
  Runc runc(scratch_->path() + "/runc");
  BundleSpec spec;
  spec.args = kProbe;
  ASSERT_OK(WriteBundle(scratch_->path() + "/bundle", spec));
  auto r = runc.Run(scratch_->path() + "/bundle", "smoke");
  ASSERT_OK(r);
  EXPECT_EQ(r->exit_code, 0) << r->Describe();
  ExpectPrivateNetwork(*r);
  auto list = testutil::RunSubprocess(runc.ListArgv(), {}, absl::Seconds(10));
  ASSERT_OK(list);
  EXPECT_EQ(list->stdout_text, "") << "runc run left its container";
  container_lists_.push_back(runc.ListArgv());
  runc.Cleanup();
}

TEST_F(EngineSmokeTest, PodmanRunsImportedImageWithNetworkNone) {
  absl::Status why = EngineAvailability(kPodman);
  if (!why.ok()) GTEST_SKIP() << why;
  ASSERT_OK(ImageTar());
  Podman podman(scratch_->path() + "/podman");
  ASSERT_OK(podman.Import(scratch_->path() + "/image.tar", "localhost/smoke:1"));
  auto r = testutil::RunSubprocess(podman.RunArgv({}, "localhost/smoke:1", kProbe), {},
                                   absl::Seconds(60));
  ASSERT_OK(r);
  EXPECT_EQ(r->exit_code, 0) << r->Describe();
  ExpectPrivateNetwork(*r);
  container_lists_.push_back(podman.ListArgv());
  EXPECT_EQ(DescribeLeftoversAfter(Scope(), absl::Seconds(5)), "")
      << "before cleanup: --rm must remove the container";
  podman.Cleanup();
  container_lists_.clear();  // the listing itself needs the storage just removed
}

TEST_F(EngineSmokeTest, PrivateDockerDaemonRunsImportedImageWithNetworkNone) {
  for (const char* program : {kDocker, kDockerd}) {
    absl::Status why = EngineAvailability(program);
    if (!why.ok()) GTEST_SKIP() << why;
  }
  ASSERT_OK(ImageTar());
  DockerOptions options;
  options.state_dir = scratch_->path() + "/docker";
  auto daemon = DockerDaemon::Start(options);
  ASSERT_OK(daemon);
  ASSERT_OK((*daemon)->Import(scratch_->path() + "/image.tar", "smoke:1"));
  auto r =
      testutil::RunSubprocess((*daemon)->RunArgv({}, "smoke:1", kProbe), {}, absl::Seconds(60));
  ASSERT_OK(r);
  EXPECT_EQ(r->exit_code, 0) << r->Describe() << (*daemon)->Log();
  ExpectPrivateNetwork(*r);
  auto ps = testutil::RunSubprocess((*daemon)->ListArgv(), {}, absl::Seconds(20));
  ASSERT_OK(ps);
  EXPECT_EQ(ps->stdout_text, "") << "--rm must remove the container";
  EXPECT_EQ((*daemon)->Stop(), "");
  std::cout << "dockerd ready in " << absl::FormatDuration((*daemon)->ready_time())
            << ", stopped (with containerd) in " << absl::FormatDuration((*daemon)->stop_time())
            << "\n";
}

}  // namespace
}  // namespace pmi_shim::containers
