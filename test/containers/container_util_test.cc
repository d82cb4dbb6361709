// Pure helpers of the container tests: the config.json a BundleSpec makes,
// and the mountinfo / /proc/net/unix parsers behind DescribeLeftovers.
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "test/containers/engines.h"
#include "test/containers/leftovers.h"
#include "test/containers/oci_bundle.h"

namespace pmi_shim::containers {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;

TEST(BundleConfig, CarriesHooksAnnotationsEnvAndNamespaces) {
  BundleSpec spec;
  spec.args = {"/bin/echo", "hi"};
  spec.env.push_back("PMI_SHIM_DIR=/tmp/x");
  spec.namespaces = {"pid", "network", "mount"};
  spec.host_dev_shm = true;
  spec.hooks.create_runtime.push_back({"/opt/hook", {"hook", "createRuntime"}, {}, 5});
  spec.hooks.poststop.push_back({"/opt/hook", {"hook", "poststop"}, {}, 0});
  spec.annotations["org.pmi-shim.enable"] = "true";
  nlohmann::json c = BundleConfig(spec);
  EXPECT_EQ(c["process"]["args"], nlohmann::json({"/bin/echo", "hi"}));
  EXPECT_EQ(c["process"]["env"].back(), "PMI_SHIM_DIR=/tmp/x");
  EXPECT_EQ(c["root"]["path"], "rootfs");
  EXPECT_EQ(c["linux"]["namespaces"].size(), 3u);
  EXPECT_EQ(c["linux"]["namespaces"][1]["type"], "network");
  EXPECT_EQ(c["hooks"]["createRuntime"][0]["path"], "/opt/hook");
  EXPECT_EQ(c["hooks"]["createRuntime"][0]["args"][1], "createRuntime");
  EXPECT_EQ(c["hooks"]["createRuntime"][0]["timeout"], 5);
  EXPECT_EQ(c["hooks"]["poststop"][0]["args"][1], "poststop");
  EXPECT_FALSE(c["hooks"]["poststop"][0].contains("timeout"));
  EXPECT_EQ(c["annotations"]["org.pmi-shim.enable"], "true");
  bool shm_bound = false;
  for (const auto& m : c["mounts"]) {
    if (m["destination"] == "/dev/shm") shm_bound = m["source"] == "/dev/shm";
  }
  EXPECT_TRUE(shm_bound);
}

TEST(BundleConfig, NoHooksNoAnnotationsByDefault) {
  nlohmann::json c = BundleConfig(BundleSpec{});
  EXPECT_FALSE(c.contains("hooks"));
  EXPECT_FALSE(c.contains("annotations"));
  EXPECT_FALSE(c["process"]["terminal"].get<bool>());
}

TEST(MountPointsUnder, MatchesPrefixOnPathBoundaryAndDecodesEscapes) {
  std::string mountinfo =
      "22 1 8:1 / / rw - ext4 /dev/sda1 rw\n"
      "40 22 0:5 / /tmp/ct.1/a rw - tmpfs tmpfs rw\n"
      "41 22 0:6 / /tmp/ct.1/with\\040space rw - tmpfs tmpfs rw\n"
      "42 22 0:7 / /tmp/ct.10 rw - tmpfs tmpfs rw\n";
  EXPECT_THAT(MountPointsUnder(mountinfo, "/tmp/ct.1"),
              ElementsAre("/tmp/ct.1/a", "/tmp/ct.1/with space"));
  EXPECT_THAT(MountPointsUnder(mountinfo, "/nothing"), IsEmpty());
}

TEST(UnixSocketsUnder, FindsBoundPaths) {
  std::string table =
      "Num       RefCount Protocol Flags    Type St Inode Path\n"
      "0000000000000000: 00000002 00000000 00010000 0001 01 1234 /tmp/ct.1/d/pmi.sock\n"
      "0000000000000000: 00000002 00000000 00010000 0001 01 1235\n"
      "0000000000000000: 00000002 00000000 00010000 0001 01 1236 @abstract\n"
      "0000000000000000: 00000002 00000000 00010000 0001 01 1237 /run/other.sock\n";
  EXPECT_THAT(UnixSocketsUnder(table, "/tmp/ct.1"), ElementsAre("/tmp/ct.1/d/pmi.sock"));
}

TEST(ShellQuote, SurvivesQuotes) {
  EXPECT_EQ(ShellQuote("a b"), "'a b'");
  EXPECT_EQ(ShellQuote("it's"), "'it'\\''s'");
}

}  // namespace
}  // namespace pmi_shim::containers
