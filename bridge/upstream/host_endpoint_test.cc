// DetectHostEndpoint over the environments real launchers hand out (hydra
// in both modes, Slurm --mpi=pmi2, mpirun/PMIx), mixed ones and broken ones;
// plus the list of host variables a child must not see.
#include "bridge/upstream/host_endpoint.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "test/testing/status_matchers.h"

namespace pmi_shim::upstream {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

const std::vector<std::string> kPmixVars = {
    "PMIX_NAMESPACE=prterun-vm-4242@1", "PMIX_RANK=0",
    "PMIX_SERVER_URI41=prterun-vm-4242@0.0;tcp4://127.0.0.1:38111",
    "PMIX_SERVER_URI2=prterun-vm-4242@0.0;tcp4://127.0.0.1:38111", "PMIX_VERSION=4.2.2rc2"};

std::vector<std::string> With(std::vector<std::string> a, const std::vector<std::string>& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

struct DetectCase {
  const char* name;
  std::vector<std::string> env;
  UpstreamChoice choice;
  // Expected outcome: an error containing `error`, or the fields below.
  const char* error;
  HostFamily family;
  WireProtocol protocol;
  std::string describe;
  bool warns;
};

DetectCase Ok(const char* name, std::vector<std::string> env, UpstreamChoice choice,
              HostFamily family, WireProtocol protocol, std::string describe, bool warns) {
  return {name, std::move(env), choice, nullptr, family, protocol, std::move(describe), warns};
}

DetectCase Fails(const char* name, std::vector<std::string> env, UpstreamChoice choice,
                 const char* error) {
  return {name, std::move(env), choice, error, HostFamily::kNone, WireProtocol::kPmi1, "", false};
}

class DetectTest : public ::testing::TestWithParam<DetectCase> {};

TEST_P(DetectTest, ReadsTheEnvironment) {
  const DetectCase& c = GetParam();
  absl::StatusOr<HostEndpoint> endpoint = DetectHostEndpoint(c.env, c.choice);
  if (c.error != nullptr) {
    EXPECT_THAT(endpoint, testutil::StatusIs(::testing::_, HasSubstr(c.error)))
        << "expected an error containing: " << c.error;
    EXPECT_EQ(std::string(endpoint.status().message()).find('\n'), std::string::npos);
    return;
  }
  ASSERT_OK(endpoint);
  EXPECT_EQ(endpoint->family, c.family);
  EXPECT_EQ(endpoint->protocol, c.protocol);
  EXPECT_EQ(endpoint->Describe(), c.describe);
  EXPECT_EQ(!endpoint->warnings.empty(), c.warns);
}

const std::vector<std::string> kHydraFd = {"PMI_FD=5", "PMI_RANK=1", "PMI_SIZE=2", "PATH=/bin"};
const std::vector<std::string> kHydraPort = {"PMI_PORT=vm:37641", "PMI_ID=1"};
const std::vector<std::string> kSlurmPmi2 = {"PMI_FD=11", "PMI_JOBID=2.0", "PMI_RANK=0",
                                             "PMI_SIZE=2", "SLURM_MPI_TYPE=pmi2"};

INSTANTIATE_TEST_SUITE_P(
    Environments, DetectTest,
    ::testing::Values(
        Ok("HydraFd", kHydraFd, UpstreamChoice::kAuto, HostFamily::kPmiWire, WireProtocol::kPmi1,
           "PMI_FD=5", false),
        Ok("HydraPort", kHydraPort, UpstreamChoice::kAuto, HostFamily::kPmiWire,
           WireProtocol::kPmi1, "PMI_PORT=vm:37641", false),
        Ok("HydraPortPmi2", kHydraPort, UpstreamChoice::kPmi2, HostFamily::kPmiWire,
           WireProtocol::kPmi2, "PMI_PORT=vm:37641", false),
        Ok("SlurmPmi2", kSlurmPmi2, UpstreamChoice::kPmi2, HostFamily::kPmiWire,
           WireProtocol::kPmi2, "PMI_FD=11", false),
        Ok("SlurmAutoPicksPmi2", kSlurmPmi2, UpstreamChoice::kAuto, HostFamily::kPmiWire,
           WireProtocol::kPmi2, "PMI_FD=11", false),
        Ok("SlurmPmi1WhenAsked", kSlurmPmi2, UpstreamChoice::kPmi1, HostFamily::kPmiWire,
           WireProtocol::kPmi1, "PMI_FD=11", false),
        Ok("Pmix", kPmixVars, UpstreamChoice::kAuto, HostFamily::kPmix, WireProtocol::kPmi1,
           "PMIx namespace", false),
        Ok("AmbiguousWithFdPrefersPmi", With(kHydraFd, kPmixVars), UpstreamChoice::kAuto,
           HostFamily::kPmiWire, WireProtocol::kPmi1, "PMI_FD=5", true),
        Ok("AmbiguousWithoutFdPrefersPmix",
           With({"PMI_SIZE=2", "PMI_PORT=h:1", "PMI_ID=0"}, kPmixVars), UpstreamChoice::kAuto,
           HostFamily::kPmix, WireProtocol::kPmi1, "PMIx namespace", true),
        Ok("AmbiguousSettledByChoice", With(kHydraFd, kPmixVars), UpstreamChoice::kPmix,
           HostFamily::kPmix, WireProtocol::kPmi1, "PMIx namespace", false),
        Fails("None", {"PATH=/bin", "HOME=/root"}, UpstreamChoice::kAuto,
              "no PMI server found in the environment (no PMI_FD, PMI_PORT or "
              "PMIX_NAMESPACE); run pmi-bridge exec under mpiexec, srun or mpirun"),
        Fails("GarbageFd", {"PMI_FD=x", "PMI_RANK=0", "PMI_SIZE=1"}, UpstreamChoice::kAuto,
              "PMI_FD=\"x\" is not a file descriptor number"),
        Fails("NegativeFd", {"PMI_FD=-3", "PMI_SIZE=1"}, UpstreamChoice::kAuto,
              "PMI_FD=\"-3\" is not a file descriptor number"),
        Fails("PortWithoutColon", {"PMI_PORT=39000", "PMI_ID=0"}, UpstreamChoice::kAuto,
              "PMI_PORT=\"39000\" is not host:port"),
        Fails("PortIpv6Literal", {"PMI_PORT=::1:39000", "PMI_ID=0"}, UpstreamChoice::kAuto,
              "is not host:port"),
        Fails("PortWithoutId", {"PMI_PORT=h:39000"}, UpstreamChoice::kAuto,
              "neither PMI_ID nor PMI_RANK"),
        Fails("GarbageSize", {"PMI_FD=3", "PMI_RANK=0", "PMI_SIZE=0"}, UpstreamChoice::kAuto,
              "PMI_SIZE=\"0\" is not a positive job size"),
        Fails("SizeOnly", {"PMI_SIZE=2"}, UpstreamChoice::kAuto,
              "no PMI_FD or PMI_PORT (only PMI_SIZE)"),
        Fails("Pmi1WantedButOnlyPmix", kPmixVars, UpstreamChoice::kPmi1,
              "--upstream pmi1 needs a PMI server"),
        Fails("PmixWantedButOnlyPmi", kHydraFd, UpstreamChoice::kPmix, "PMIX_NAMESPACE is not set"),
        Fails("PmixWithoutUri", {"PMIX_NAMESPACE=ns", "PMIX_RANK=0"}, UpstreamChoice::kAuto,
              "no PMIX_SERVER_URI*"),
        Ok("PmixChoiceIgnoresGarbagePmi", With({"PMI_FD=x"}, kPmixVars), UpstreamChoice::kPmix,
           HostFamily::kPmix, WireProtocol::kPmi1, "PMIx namespace", false)),
    [](const ::testing::TestParamInfo<DetectCase>& info) { return info.param.name; });

TEST(DetectHostEndpointTest, RecordsEveryPmiVariable) {
  absl::StatusOr<HostEndpoint> e = DetectHostEndpoint(
      std::vector<std::string>{"PMI_FD=11", "PMI_JOBID=2.0", "PMI_RANK=1", "PMI_SIZE=4",
                               "PMI_SPAWNED=1", "PMI_ID=1", "PMI_PORT=node7:4000"},
      UpstreamChoice::kAuto);
  ASSERT_OK(e);
  EXPECT_EQ(e->fd, 11);
  EXPECT_EQ(e->port_host, "node7");
  EXPECT_EQ(e->port, 4000);
  EXPECT_EQ(e->id, 1);
  EXPECT_EQ(e->rank, 1);
  EXPECT_EQ(e->size, 4);
  EXPECT_EQ(e->jobid, "2.0");
  EXPECT_TRUE(e->spawned);
  EXPECT_EQ(e->Describe(), "PMI_FD=11") << "PMI_FD is checked before PMI_PORT";
}

TEST(DetectHostEndpointTest, RecordsThatPmixVariablesExist) {
  absl::StatusOr<HostEndpoint> e = DetectHostEndpoint(kPmixVars, UpstreamChoice::kAuto);
  ASSERT_OK(e);
  EXPECT_TRUE(e->has_pmix_namespace);
  EXPECT_TRUE(e->has_pmix_rank);
  EXPECT_THAT(e->pmix_server_uri_names, ElementsAre("PMIX_SERVER_URI2", "PMIX_SERVER_URI41"));
  EXPECT_FALSE(e->fd.has_value());
}

TEST(DetectHostEndpointTest, AmbiguityWarningIsOneLineNamingTheChoice) {
  absl::StatusOr<HostEndpoint> e =
      DetectHostEndpoint(With(kHydraFd, kPmixVars), UpstreamChoice::kAuto);
  ASSERT_OK(e);
  ASSERT_EQ(e->warnings.size(), 1u);
  EXPECT_THAT(e->warnings[0], HasSubstr("using the PMI server"));
  EXPECT_THAT(e->warnings[0], HasSubstr("pass --upstream to choose"));
}

TEST(EnvironmentTest, FirstEntryWinsAndMalformedEntriesAreSkipped) {
  Environment env = EnvironmentFromEntries({"A=1", "A=2", "B", "=x", "C=a=b", "D="});
  EXPECT_EQ(env.size(), 3u);
  EXPECT_EQ(env["A"], "1");
  EXPECT_EQ(env["C"], "a=b");
  EXPECT_EQ(env["D"], "");
}

TEST(HostVariablesToRemoveTest, PmiChildLosesEveryHostRendezvous) {
  Environment env = EnvironmentFromEntries(
      With(With(kSlurmPmi2, kPmixVars), {"PRTE_LAUNCHED=1", "PMIX_MCA_gds=hash", "PMI_DEBUG=1",
                                         "PMI2_DEBUG=1", "PMI_PORT=h:1", "PMI_ID=0", "HOME=/"}));
  EXPECT_THAT(HostVariablesToRemove(env, PresentedProtocol::kPmiWire),
              ElementsAre("PMIX_MCA_gds", "PMIX_NAMESPACE", "PMIX_RANK", "PMIX_SERVER_URI2",
                          "PMIX_SERVER_URI41", "PMIX_VERSION", "PMI_FD", "PMI_ID", "PMI_JOBID",
                          "PMI_PORT", "PMI_RANK", "PMI_SIZE", "PRTE_LAUNCHED"));
}

TEST(HostVariablesToRemoveTest, PmixChildKeepsPmixLibrarySettings) {
  Environment env = EnvironmentFromEntries(
      With(kHydraFd, {"PMIX_MCA_gds=hash", "PMIX_NAMESPACE=host", "PMI_DEBUG=1"}));
  EXPECT_THAT(HostVariablesToRemove(env, PresentedProtocol::kPmix),
              ElementsAre("PMIX_NAMESPACE", "PMI_FD", "PMI_RANK", "PMI_SIZE"));
  EXPECT_FALSE(IsHostRendezvousVariable("PMIX_MCA_gds", PresentedProtocol::kPmix));
  EXPECT_TRUE(IsHostRendezvousVariable("PMIX_MCA_gds", PresentedProtocol::kPmiWire));
  EXPECT_FALSE(IsHostRendezvousVariable("PMI_DEBUG", PresentedProtocol::kPmiWire));
  EXPECT_FALSE(IsHostRendezvousVariable("PATH", PresentedProtocol::kPmiWire));
}

TEST(HostVariablesToRemoveTest, NothingToRemoveFromAPlainEnvironment) {
  EXPECT_THAT(HostVariablesToRemove(EnvironmentFromEntries({"PATH=/bin", "HOME=/"}),
                                    PresentedProtocol::kPmiWire),
              IsEmpty());
}

}  // namespace
}  // namespace pmi_shim::upstream
