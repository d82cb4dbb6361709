// The applied-record survives a round trip and rejects what it cannot trust.
#include "hook/apply/applied_record.h"

#include <gtest/gtest.h>

#include "test/testing/status_matchers.h"

namespace pmi_shim::hook {
namespace {

AppliedRecord Sample() {
  AppliedRecord record;
  record.container_id = "c-1.x_y";
  record.pid = 4242;
  record.rootfs = "/var/lib/b/rootfs";
  record.mounts.push_back(
      {"/run/user/1000/pmi/r0", "/run/pmi-shim", true, {"/run", "/run/pmi-shim"}});
  record.mounts.push_back({"/opt/pmi-shim", "/opt/pmi-shim", false, {}});
  record.relays.push_back({"127.0.0.1", 5000, 777, 123456789012ULL});
  record.relays.push_back({"127.0.0.1", 5001, 0, 0});
  return record;
}

TEST(AppliedRecordTest, RoundTripsEveryField) {
  const AppliedRecord in = Sample();
  absl::StatusOr<AppliedRecord> out = DecodeRecord(EncodeRecord(in));
  ASSERT_OK(out);
  EXPECT_EQ(out->container_id, in.container_id);
  EXPECT_EQ(out->pid, in.pid);
  EXPECT_EQ(out->rootfs, in.rootfs);
  ASSERT_EQ(out->mounts.size(), 2u);
  EXPECT_EQ(out->mounts[0].source, "/run/user/1000/pmi/r0");
  EXPECT_EQ(out->mounts[0].target, "/run/pmi-shim");
  EXPECT_TRUE(out->mounts[0].done);
  EXPECT_EQ(out->mounts[0].created, (std::vector<std::string>{"/run", "/run/pmi-shim"}));
  EXPECT_FALSE(out->mounts[1].done);
  EXPECT_TRUE(out->mounts[1].created.empty());
  ASSERT_EQ(out->relays.size(), 2u);
  EXPECT_EQ(out->relays[0].address, "127.0.0.1");
  EXPECT_EQ(out->relays[0].port, 5000);
  EXPECT_EQ(out->relays[0].pid, 777);
  EXPECT_EQ(out->relays[0].start_time, 123456789012ULL);
  EXPECT_EQ(out->relays[1].pid, 0);
}

TEST(AppliedRecordTest, EncodesOneLineOfJson) {
  const std::string text = EncodeRecord(Sample());
  EXPECT_EQ(text.find('\n'), text.size() - 1);
  EXPECT_NE(text.find("\"version\":1"), std::string::npos);
}

TEST(AppliedRecordTest, RejectsMalformedText) {
  for (const char* bad :
       {"", "not json", "[]", "{}", R"({"version":2})",
        R"({"version":1,"container_id":"c","pid":"x","rootfs":"/r","mounts":[],"relays":[]})",
        R"({"version":1,"container_id":"c","pid":1,"rootfs":"/r","mounts":[{}],"relays":[]})"}) {
    absl::StatusOr<AppliedRecord> out = DecodeRecord(bad);
    EXPECT_FALSE(out.ok()) << bad;
    if (!out.ok()) {
      EXPECT_EQ(out.status().code(), absl::StatusCode::kInvalidArgument) << bad;
    }
  }
}

TEST(AppliedRecordTest, ContainerIdsMustBeFileNames) {
  for (const char* ok : {"abc", "a1-b_c.d", "0123456789abcdef"})
    EXPECT_TRUE(IsSafeContainerId(ok)) << ok;
  for (const char* bad : {"", ".", "..", "a/b", "../x", "a b", "a\nb"}) {
    EXPECT_FALSE(IsSafeContainerId(bad)) << bad;
  }
  EXPECT_FALSE(IsSafeContainerId(std::string(257, 'a')));
}

}  // namespace
}  // namespace pmi_shim::hook
