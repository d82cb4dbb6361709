#include "shim-client/environment_checks.h"

#include <algorithm>
#include <functional>

#include "absl/strings/str_join.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace pmi_shim::shim_client {
namespace {

using ::testing::HasSubstr;

// A healthy container in bind mode: same /tmp, /dev/shm and IPC as the bridge.
EnvironmentFacts Healthy() {
  EnvironmentFacts f;
  f.env = {{"PATH", "/bin"}, {"PMI_SHIM_DIR", "/h/d"}};
  f.rendezvous_dir = "/h/d";
  f.searched_dirs = {"/run/pmi-shim", "/h/d"};
  f.host_ipc_ns = f.ipc_ns = "ipc:[4026531839]";
  f.host_user_ns = f.user_ns = "user:[4026531837]";
  f.host_shm = "22:1";
  f.shm = "22:1";
  f.host_tmp = "8:2";
  f.tmp = "8:2";
  return f;
}

struct Case {
  std::string name;
  std::function<void(EnvironmentFacts&)> change;
  // Codes expected, in order (fatal first); empty: no finding.
  std::vector<std::string> codes;
  // Substrings the first finding's message must hold (the fix, the symptom).
  std::vector<std::string> says;
};

class CheckEnvironmentTest : public ::testing::TestWithParam<Case> {};

TEST_P(CheckEnvironmentTest, Finds) {
  const Case& c = GetParam();
  EnvironmentFacts facts = Healthy();
  c.change(facts);
  std::vector<Finding> findings = CheckEnvironment(facts);
  std::vector<std::string> codes;
  for (const Finding& f : findings) codes.push_back(f.code);
  EXPECT_EQ(codes, c.codes) << absl::StrJoin(codes, ",");
  if (findings.empty()) return;
  for (const std::string& s : c.says) EXPECT_THAT(findings[0].message, HasSubstr(s));
  for (const Finding& f : findings) {
    EXPECT_EQ(f.message.find('\n'), std::string::npos) << "one line: " << f.message;
  }
}

void NoRendezvous(EnvironmentFacts& f) {
  f.rendezvous_dir.reset();
  f.host_ipc_ns = f.host_shm = f.host_tmp = f.host_user_ns = "";
  f.env.erase("PMI_SHIM_DIR");
  f.searched_dirs = {"/run/pmi-shim"};
}

INSTANTIATE_TEST_SUITE_P(
    Table, CheckEnvironmentTest,
    ::testing::Values(
        Case{"healthy", [](EnvironmentFacts&) {}, {}, {}},
        Case{"no_rendezvous_at_all",
             NoRendezvous,
             {"n-singletons"},
             {"rank 0 of 1", "N-singletons", "PMI_SHIM_DIR", "--env"}},
        Case{"direct_pmi_fd_is_fine",
             [](EnvironmentFacts& f) {
               NoRendezvous(f);
               f.env["PMI_FD"] = "5";
             },
             {},
             {}},
        Case{"direct_pmix_is_fine",
             [](EnvironmentFacts& f) {
               NoRendezvous(f);
               f.env["PMIX_SERVER_URI41"] = "a.0;tcp4://127.0.0.1:9";
             },
             {},
             {}},
        Case{"dir_variable_crossed_but_not_the_directory",
             [](EnvironmentFacts& f) {
               NoRendezvous(f);
               f.env["PMI_SHIM_DIR"] = "/h/d";
               f.env["CH_RUNNING"] = "Weird Al Yankovic";
             },
             {"rendezvous-not-mounted"},
             {"/h/d", "not mounted", "-b $PMI_SHIM_DIR"}},
        Case{"apptainer_cleanenv",
             [](EnvironmentFacts& f) {
               NoRendezvous(f);
               f.env["APPTAINER_CONTAINER"] = "/img.sif";
               f.env["APPTAINER_COMMAND"] = "exec";
             },
             {"n-singletons"},
             {"--cleanenv", "--containall", "APPTAINERENV_PMI_SHIM_DIR"}},
        Case{"singularity_oci_mode",
             [](EnvironmentFacts& f) {
               NoRendezvous(f);
               f.env["SINGULARITY_CONTAINER"] = "/tmp/bundle";
               f.env["SINGULARITY_NAME"] = "img.oci.sif";
             },
             {"n-singletons", "singularity-oci-mode"},
             {"OCI mode"}},
        Case{"singularity_native_is_not_oci",
             [](EnvironmentFacts& f) {
               f.env["SINGULARITY_CONTAINER"] = "/img.sif";
               f.env["SINGULARITY_COMMAND"] = "exec";
               f.env["SINGULARITY_ENVIRONMENT"] = "/.singularity.d/env/91-environment.sh";
             },
             {},
             {}},
        Case{"apptainer_private_ipc",
             [](EnvironmentFacts& f) {
               f.env["APPTAINER_CONTAINER"] = "/img.sif";
               f.env["APPTAINER_COMMAND"] = "exec";
               f.ipc_ns = "ipc:[4026532999]";
             },
             {"private-ipc"},
             {"--ipc", "--containall", "shared by default", "shared-memory"}},
        Case{"docker_private_ipc_and_shm",
             [](EnvironmentFacts& f) {
               f.has_dockerenv = true;
               f.ipc_ns = "ipc:[4026532999]";
               f.shm = "33:7";
             },
             {"private-ipc", "private-dev-shm"},
             {"--ipc=host"}},
        Case{"apptainer_contain_private_tmp",
             [](EnvironmentFacts& f) {
               f.env["APPTAINER_CONTAINER"] = "/img.sif";
               f.env["APPTAINER_COMMAND"] = "exec";
               f.tmp = "40:1";
             },
             {"private-tmp"},
             {"--contain", "--bind /tmp", "PMIX_MCA_gds=hash"}},
        Case{"charliecloud_private_tmp",
             [](EnvironmentFacts& f) {
               f.env["CH_RUNNING"] = "Weird Al Yankovic";
               f.tmp = "40:1";
             },
             {"private-tmp"},
             {"--private-tmp"}},
        Case{"charliecloud_own_user_namespace",
             [](EnvironmentFacts& f) {
               f.env["CH_RUNNING"] = "Weird Al Yankovic";
               f.user_ns = "user:[4026532500]";
             },
             {"private-user-ns"},
             {"--join", "CMA", "single_copy_mechanism=none"}},
        Case{"apptainer_own_user_namespace",
             [](EnvironmentFacts& f) {
               f.env["APPTAINER_CONTAINER"] = "/img.sif";
               f.env["APPTAINER_COMMAND"] = "exec";
               f.user_ns = "user:[4026532500]";
             },
             {"private-user-ns"},
             {"--sharens"}},
        Case{"no_dev_shm",
             [](EnvironmentFacts& f) { f.shm.reset(); },
             {"no-dev-shm"},
             {"no /dev/shm"}},
        Case{"unknown_host_facts_are_not_compared",
             [](EnvironmentFacts& f) {
               f.host_ipc_ns = f.host_shm = f.host_tmp = f.host_user_ns = "";
               f.ipc_ns = "ipc:[1]";
               f.user_ns = "user:[1]";
               f.tmp = "1:1";
               f.shm = "1:1";
             },
             {},
             {}},
        Case{
            "unreadable_proc_is_not_a_finding", [](EnvironmentFacts& f) { f.ipc_ns = ""; }, {}, {}},
        Case{"ambiguous_launcher_in_direct_mode",
             [](EnvironmentFacts& f) {
               NoRendezvous(f);
               f.env["PMI_SIZE"] = "4";
               f.env["PMI_FD"] = "3";
               f.env["PMIX_NAMESPACE"] = "x";
             },
             {"ambiguous-launcher"},
             {"PMI_SIZE", "PMIX_NAMESPACE"}}),
    [](const auto& info) { return info.param.name; });

TEST(DetectEngineTest, FromMarkers) {
  EnvironmentFacts f;
  EXPECT_EQ(DetectEngine(f), Engine::kUnknown);
  f.has_dockerenv = true;
  EXPECT_EQ(DetectEngine(f), Engine::kDocker);
  f.has_containerenv = true;
  EXPECT_EQ(DetectEngine(f), Engine::kPodman);
  f.env["CH_RUNNING"] = "Weird Al Yankovic";
  EXPECT_EQ(DetectEngine(f), Engine::kCharliecloud);
  f.env["SINGULARITY_NAME"] = "x";
  EXPECT_EQ(DetectEngine(f), Engine::kSingularity);
  f.env["APPTAINER_CONTAINER"] = "x";
  EXPECT_EQ(DetectEngine(f), Engine::kApptainer);
}

TEST(HasFatalTest, OnlyFatalCounts) {
  EXPECT_FALSE(HasFatal({}));
  EXPECT_FALSE(HasFatal({{Finding::Severity::kWarning, "w", "m"}}));
  EXPECT_TRUE(
      HasFatal({{Finding::Severity::kWarning, "w", "m"}, {Finding::Severity::kFatal, "f", "m"}}));
}

}  // namespace
}  // namespace pmi_shim::shim_client
