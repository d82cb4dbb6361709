#include "shim-client/exec_plan.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace pmi_shim::shim_client {
namespace {

using ::testing::Contains;
using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::UnorderedElementsAre;

Rendezvous Make(Protocol protocol, rendezvous::EnvEntries entries) {
  Rendezvous r;
  r.dir = "/run/pmi-shim";
  r.protocol = protocol;
  r.entries = std::move(entries);
  return r;
}

// A host environment full of things that would mislead the client.
const Environ kHostEnv = {
    "PATH=/usr/bin",        "HOME=/root",          "PMI_FD=7",
    "PMI_PORT=10.0.0.1:99", "PMI_ID=3",            "PMI_RANK=3",
    "PMI_SIZE=9",           "PMIX_NAMESPACE=host", "PMIX_SERVER_URI41=h.0;tcp4://127.0.0.1:1",
    "PRTE_LAUNCHED=1",      "PMI_SHIM_DIR=/h/d",   "OMP_NUM_THREADS=2",
};

TEST(PlanExecTest, PmiSocketScrubsTheHostRendezvousAndExportsTheEnvFile) {
  absl::StatusOr<ExecPlan> plan =
      PlanExec(kHostEnv, Make(Protocol::kPmi1, {{"PMI_SHIM_PROTOCOL", "pmi1"},
                                                {"PMI_RANK", "1"},
                                                {"PMI_SIZE", "2"},
                                                {"PMI_SHIM_HOST_TMP", "1:2"}}));
  ASSERT_TRUE(plan.ok()) << plan.status();
  EXPECT_EQ(plan->mode, ExecMode::kPmiSocket);
  EXPECT_EQ(plan->pmi_socket, "/run/pmi-shim/pmi.sock");
  EXPECT_THAT(plan->environment,
              UnorderedElementsAre("PATH=/usr/bin", "HOME=/root", "PMI_SHIM_DIR=/h/d",
                                   "OMP_NUM_THREADS=2", "PMI_RANK=1", "PMI_SIZE=2"));
}

TEST(PlanExecTest, PmixV1ExportsItsPathsAndNothingOfTheHost) {
  const rendezvous::EnvEntries entries = {
      {"PMI_SHIM_PROTOCOL", "pmix1"},
      {"PMIX_NAMESPACE", "job"},
      {"PMIX_RANK", "2"},
      {"PMIX_SERVER_URI", "pmi-shim-v1-server:0:/run/pmi-shim/job.2.77/pmix-v1/usock"},
      {"PMIX_DSTORE_ESH_BASE_PATH", "/run/pmi-shim/job.2.77/pmix-v1/dstore"}};
  absl::StatusOr<ExecPlan> plan = PlanExec(kHostEnv, Make(Protocol::kPmixV1, entries));
  ASSERT_TRUE(plan.ok()) << plan.status();
  EXPECT_EQ(plan->mode, ExecMode::kDirect);
  EXPECT_THAT(plan->environment,
              UnorderedElementsAre(
                  "PATH=/usr/bin", "HOME=/root", "PMI_SHIM_DIR=/h/d", "OMP_NUM_THREADS=2",
                  "PMIX_NAMESPACE=job", "PMIX_RANK=2",
                  "PMIX_SERVER_URI=pmi-shim-v1-server:0:/run/pmi-shim/job.2.77/pmix-v1/usock",
                  "PMIX_DSTORE_ESH_BASE_PATH=/run/pmi-shim/job.2.77/pmix-v1/dstore"));
  EXPECT_FALSE(PlanExec(kHostEnv, Make(Protocol::kPmixV1, {{"PMI_SHIM_PROTOCOL", "pmix1"}})).ok());
}

TEST(PlanExecTest, Pmi2ExportsJobid) {
  absl::StatusOr<ExecPlan> plan = PlanExec(
      {"PATH=/bin"}, Make(Protocol::kPmi2, {{"PMI_SHIM_PROTOCOL", "pmi2"},
                                            {"PMI_RANK", "0"},
                                            {"PMI_SIZE", "4"},
                                            {"PMI_JOBID", "77.0"}}));
  ASSERT_TRUE(plan.ok());
  EXPECT_THAT(plan->environment, Contains("PMI_JOBID=77.0"));
  EXPECT_THAT(plan->environment, Not(Contains(HasSubstr("PMI_SHIM_PROTOCOL"))));
}

TEST(PlanExecTest, PmiSocketNeedsRankAndSize) {
  absl::StatusOr<ExecPlan> plan =
      PlanExec({}, Make(Protocol::kPmi, {{"PMI_SHIM_PROTOCOL", "pmi"}, {"PMI_RANK", "0"}}));
  ASSERT_FALSE(plan.ok());
  EXPECT_THAT(std::string(plan.status().message()), HasSubstr("PMI_SIZE"));
}

TEST(PlanExecTest, PmixDropsPmiVariablesAndTheHostsPmix) {
  absl::StatusOr<ExecPlan> plan = PlanExec(
      kHostEnv, Make(Protocol::kPmix, {{"PMI_SHIM_PROTOCOL", "pmix"},
                                       {"PMIX_NAMESPACE", "job@1"},
                                       {"PMIX_RANK", "1"},
                                       {"PMIX_SERVER_URI41", "srv.0;tcp4://127.0.0.1:4242"},
                                       {"PMIX_SERVER_URI21", "srv.0;tcp4://127.0.0.1:4242"}}));
  ASSERT_TRUE(plan.ok()) << plan.status();
  EXPECT_EQ(plan->mode, ExecMode::kPmix);
  EXPECT_EQ(plan->pmix_uri, "srv.0;tcp4://127.0.0.1:4242");
  EXPECT_EQ(plan->pmix_socket, "/run/pmi-shim/pmix.sock");
  // Never PMI_SIZE next to PMIX_NAMESPACE (MPICH: ambiguous launcher).
  EXPECT_THAT(plan->environment,
              UnorderedElementsAre("PATH=/usr/bin", "HOME=/root", "PMI_SHIM_DIR=/h/d",
                                   "OMP_NUM_THREADS=2", "PMIX_NAMESPACE=job@1", "PMIX_RANK=1",
                                   "PMIX_SERVER_URI41=srv.0;tcp4://127.0.0.1:4242",
                                   "PMIX_SERVER_URI21=srv.0;tcp4://127.0.0.1:4242"));
}

TEST(PlanExecTest, PmixNeedsAUsableUri) {
  EXPECT_FALSE(PlanExec({}, Make(Protocol::kPmix, {{"PMIX_NAMESPACE", "j"}, {"PMIX_RANK", "0"}}))
                   .ok());
  EXPECT_FALSE(PlanExec({}, Make(Protocol::kPmix, {{"PMIX_NAMESPACE", "j"},
                                                   {"PMIX_RANK", "0"},
                                                   {"PMIX_SERVER_URI4", "no-semicolon"}}))
                   .ok());
}

TEST(PlanExecTest, NoDirectoryButOwnRendezvousIsDirect) {
  for (const Environ& env : std::vector<Environ>{{"PMI_FD=3"},
                                                 {"PMI_PORT=127.0.0.1:5", "PMI_ID=0"},
                                                 {"PMIX_SERVER_URI41=a.0;tcp4://127.0.0.1:9"}}) {
    absl::StatusOr<ExecPlan> plan = PlanExec(env, std::nullopt);
    ASSERT_TRUE(plan.ok());
    EXPECT_EQ(plan->mode, ExecMode::kDirect) << env[0];
    EXPECT_EQ(plan->environment, env);
  }
}

TEST(PlanExecTest, NothingAtAllIsASingleton) {
  absl::StatusOr<ExecPlan> plan = PlanExec({"PATH=/bin", "PMI_RANK=0"}, std::nullopt);
  ASSERT_TRUE(plan.ok());
  EXPECT_EQ(plan->mode, ExecMode::kSingleton);
}

TEST(EnvironTest, SetReplacesInPlaceAndLookupFindsExactNames) {
  Environ env = {"A=1", "AB=2"};
  SetEnv(env, "A", "3");
  SetEnv(env, "C", "");
  EXPECT_EQ(env, (Environ{"A=3", "AB=2", "C="}));
  EXPECT_EQ(LookupEnv(env, "AB"), "2");
  EXPECT_EQ(LookupEnv(env, "C"), "");
  EXPECT_EQ(LookupEnv(env, "B"), std::nullopt);
}

}  // namespace
}  // namespace pmi_shim::shim_client
