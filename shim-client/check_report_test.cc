#include "shim-client/check_report.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace pmi_shim::shim_client {
namespace {

using ::testing::HasSubstr;

TEST(CheckReportTest, PmiSummaryLine) {
  CheckReport r;
  r.mode = "pmi-socket";
  r.protocol = "pmi";
  r.via = "/run/pmi-shim/pmi.sock";
  r.rank = 2;
  r.size = 4;
  r.wire = "PMI-1 (wire 1.1)";
  r.kvsname = "kvs_123";
  EXPECT_EQ(FormatSummary(r),
            "rank 2 of 4, PMI-1 (wire 1.1) through /run/pmi-shim/pmi.sock, kvsname kvs_123, job "
            "ready");
  EXPECT_TRUE(r.Ok(false));
  r.error = "the PMI server closed the connection";
  EXPECT_THAT(FormatSummary(r), HasSubstr("FAILED: the PMI server closed"));
  EXPECT_FALSE(r.Ok(false));
}

TEST(CheckReportTest, PmixSummaryLine) {
  CheckReport r;
  r.mode = "pmix";
  r.via = "/run/pmi-shim/pmix.sock";
  r.rank = 1;
  r.kvsname = "prterun@1";
  r.notes = {"127.0.0.1:5 unreachable here; exec relays a local port"};
  EXPECT_EQ(FormatSummary(r),
            "rank 1, PMIx namespace prterun@1 through /run/pmi-shim/pmix.sock, 127.0.0.1:5 "
            "unreachable here; exec relays a local port, job ready");
}

TEST(CheckReportTest, StrictFailsOnWarningsFatalAlwaysFails) {
  CheckReport r;
  r.mode = "pmi-socket";
  r.findings = {{Finding::Severity::kWarning, "private-ipc", "m"}};
  EXPECT_TRUE(r.Ok(false));
  EXPECT_FALSE(r.Ok(true));
  r.findings.push_back({Finding::Severity::kFatal, "n-singletons", "m"});
  EXPECT_FALSE(r.Ok(false));
}

TEST(CheckReportTest, Json) {
  CheckReport r;
  r.mode = "none";
  r.findings = {{Finding::Severity::kFatal, "n-singletons", "no PMI rendezvous"}};
  nlohmann::json json = CheckReportToJson(r, false);
  EXPECT_EQ(json["ok"], false);
  EXPECT_EQ(json["mode"], "none");
  ASSERT_EQ(json["findings"].size(), 1u);
  EXPECT_EQ(json["findings"][0]["code"], "n-singletons");
  EXPECT_EQ(json["findings"][0]["severity"], "fatal");
  EXPECT_FALSE(json.contains("rank"));
}

}  // namespace
}  // namespace pmi_shim::shim_client
