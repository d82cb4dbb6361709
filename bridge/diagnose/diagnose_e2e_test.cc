// trace, probe and diagnose against the real launchers: mpiexec.hydra (PMI_FD
// and -pmi-port) and mpirun.openmpi (PMIx 4.2.2), in a private network
// namespace (netns_test_main). The PMI-2 client is Slurm's real libpmi2,
// compiled here.
#include <stdlib.h>

#include <fstream>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "image/testing/fixture_image.h"
#include "nlohmann/json.hpp"
#include "test/testing/launcher.h"
#include "test/testing/netns_test_main.h"
#include "test/testing/processes.h"
#include "test/testing/runfiles.h"
#include "test/testing/status_matchers.h"
#include "test/testing/subprocess.h"

namespace pmi_shim::diagnose {
namespace {

using ::testing::HasSubstr;
using ::testing::IsEmpty;

class DiagnoseE2eTest : public ::testing::Test {
 protected:
  void SetUp() override {
    PMI_SHIM_REQUIRE_PRIVATE_NETNS();
    absl::StatusOr<std::string> bridge = testutil::Runfile("bridge/cli/pmi-bridge");
    ASSERT_OK(bridge);
    bridge_ = *bridge;
    marker_ = testutil::UniqueMarkerValue();
    dir_ = image::testing::MakeTempDir("e2e");
  }
  void TearDown() override {
    EXPECT_THAT(testutil::ProcessesWithMarker(marker_), IsEmpty());
    if (!dir_.empty()) system(absl::StrCat("rm -rf '", dir_, "'").c_str());
  }
  // `ranks` ranks of `command` under `launcher` (hydra in `mode`).
  testutil::RunResult Run(testutil::Launcher launcher, int ranks, std::vector<std::string> command,
                          testutil::PmiMode mode = testutil::PmiMode::kFd) {
    testutil::JobSpec spec;
    spec.launcher = launcher;
    spec.mode = mode;
    spec.ranks = ranks;
    spec.command = std::move(command);
    spec.marker = marker_;
    absl::StatusOr<testutil::JobResult> result = testutil::RunJob(spec);
    EXPECT_OK(result);
    if (!result.ok()) return testutil::RunResult{};
    EXPECT_THAT(result->leftovers, IsEmpty());
    return result->run;
  }
  // One JSON object per non-empty stdout line that parses.
  static std::vector<nlohmann::json> JsonLines(const std::string& text) {
    std::vector<nlohmann::json> out;
    for (absl::string_view line : absl::StrSplit(text, '\n', absl::SkipEmpty())) {
      nlohmann::json j = nlohmann::json::parse(line.begin(), line.end(), nullptr, false);
      if (!j.is_discarded()) out.push_back(j);
    }
    return out;
  }
  std::string bridge_, marker_, dir_;
};

TEST_F(DiagnoseE2eTest, TraceNamesTheMissingPmirankOfLibpmi2UnderHydraPmiPort) {
  // Slurm's libpmi2, as an application links it.
  const std::string source = dir_ + "/pmi2_client.c", program = dir_ + "/pmi2_client";
  std::ofstream(source) << "#include <slurm/pmi2.h>\n#include <stdio.h>\n"
                           "int main(void){int s,r,a,sp; "
                           "if(PMI2_Init(&sp,&s,&r,&a)!=0){printf(\"init failed\\n\");return 1;}"
                           "printf(\"rank %d of %d\\n\",r,s); PMI2_Finalize(); return 0;}\n";
  ASSERT_EQ(system(absl::StrCat("cc -o '", program, "' '", source, "' -lpmi2").c_str()), 0);
  const std::string transcript = dir_ + "/trace.txt";
  testutil::RunResult run =
      Run(testutil::Launcher::kHydra, 1, {bridge_, "trace", "--output", transcript, "--", program},
          testutil::PmiMode::kPort);
  EXPECT_NE(run.exit_code, 0) << "hydra accepted libpmi2's PMI_PORT fullinit?\n"
                              << run.stdout_text << run.stderr_text;
  std::stringstream text;
  text << std::ifstream(transcript).rdbuf();
  EXPECT_THAT(text.str(), HasSubstr("C->S cmd=fullinit srcid=0"));
  EXPECT_THAT(text.str(), HasSubstr("!! fullinit without pmirank"));
  EXPECT_THAT(text.str(), HasSubstr("unable to find pmirank"));
  // hydra says the same thing on its side.
  EXPECT_THAT(run.stderr_text + run.stdout_text, HasSubstr("pmirank"));

  // The same client through the real socket (PMI_FD) is traced and works.
  const std::string fd_transcript = dir_ + "/trace-fd.json";
  run = Run(testutil::Launcher::kHydra, 2,
            {bridge_, "trace", "--json", "--output", fd_transcript, "--", program});
  EXPECT_EQ(run.exit_code, 0) << run.stdout_text << run.stderr_text;
  std::stringstream lines;
  lines << std::ifstream(fd_transcript).rdbuf();
  std::set<int> ranks;
  int fullinit_responses = 0;
  for (const nlohmann::json& j : JsonLines(lines.str())) {
    ASSERT_FALSE(j.contains("mismatch")) << j.dump();
    if (j.value("cmd", "") == "fullinit-response" && j.value("dir", "") == "s2c") {
      ++fullinit_responses;
      ranks.insert(j["rank"].get<int>());
    }
  }
  EXPECT_EQ(fullinit_responses, 2);
  EXPECT_EQ(ranks, (std::set<int>{0, 1}));
}

TEST_F(DiagnoseE2eTest, ProbeUnderHydraReportsSizeRankAndVersion) {
  for (bool port : {true, false}) {
    SCOPED_TRACE(port ? "-pmi-port" : "PMI_FD");
    testutil::RunResult run = Run(testutil::Launcher::kHydra, 3, {bridge_, "probe", "--json"},
                                  port ? testutil::PmiMode::kPort : testutil::PmiMode::kFd);
    ASSERT_EQ(run.exit_code, 0) << run.stdout_text << run.stderr_text;
    std::set<int> ranks;
    for (const nlohmann::json& j : JsonLines(run.stdout_text)) {
      EXPECT_EQ(j["protocol"], "PMI-1");
      EXPECT_EQ(j["size"], 3);
      EXPECT_EQ(j["server_version"], "1.1");  // hydra 4.0.2's response_to_init
      EXPECT_EQ(j["limits"]["vallen_max"], 1024);
      EXPECT_THAT(j["rendezvous"].get<std::string>(), HasSubstr(port ? "PMI_PORT=" : "PMI_FD="));
      ranks.insert(j["rank"].get<int>());
    }
    EXPECT_EQ(ranks, (std::set<int>{0, 1, 2}));
  }
}

TEST_F(DiagnoseE2eTest, ProbeUnderMpirunReportsSizeRankAndVersion) {
  testutil::RunResult run = Run(testutil::Launcher::kOpenMpi, 2, {bridge_, "probe", "--json"});
  ASSERT_EQ(run.exit_code, 0) << run.stdout_text << run.stderr_text;
  std::set<int> ranks;
  for (const nlohmann::json& j : JsonLines(run.stdout_text)) {
    EXPECT_EQ(j["protocol"], "PMIx");
    EXPECT_EQ(j["size"], 2);
    EXPECT_EQ(j["server_version"], "4.2.2rc2");
    ranks.insert(j["rank"].get<int>());
  }
  EXPECT_EQ(ranks, (std::set<int>{0, 1}));
}

TEST_F(DiagnoseE2eTest, DiagnoseReadsTheRealMpirunEnvironment) {
  testutil::RunResult run = Run(testutil::Launcher::kOpenMpi, 1, {bridge_, "diagnose", "--json"});
  ASSERT_EQ(run.exit_code, 0) << run.stderr_text;
  nlohmann::json j = nlohmann::json::parse(run.stdout_text, nullptr, false);
  ASSERT_FALSE(j.is_discarded()) << run.stdout_text;
  EXPECT_EQ(j["schema"], "pmi-shim.diagnose/1");
  EXPECT_EQ(j["host"]["launcher"], "openmpi-prrte");
  EXPECT_EQ(j["host"]["pmix_version"], "4.2.2rc2");
  EXPECT_EQ(j["host"]["gds_modules"], nlohmann::json({"ds21", "ds12", "hash"}));
  EXPECT_TRUE(j["host"]["pmix_loopback"].get<bool>());
}

}  // namespace
}  // namespace pmi_shim::diagnose
