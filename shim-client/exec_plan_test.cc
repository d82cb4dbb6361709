#include "shim-client/exec_plan.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "test/testing/status_matchers.h"

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
    "PATH=/usr/bin",
    "HOME=/root",
    "PMI_FD=7",
    "PMI_PORT=10.0.0.1:99",
    "PMI_ID=3",
    "PMI_RANK=3",
    "PMI_SIZE=9",
    "PMIX_NAMESPACE=host",
    "PMIX_SERVER_URI41=h.0;tcp4://127.0.0.1:1",
    "PRTE_LAUNCHED=1",
    "PMI_SHIM_DIR=/h/d",
    "OMP_NUM_THREADS=2",
};

TEST(PlanExecTest, PmiSocketScrubsTheHostRendezvousAndExportsTheEnvFile) {
  absl::StatusOr<ExecPlan> plan =
      PlanExec(kHostEnv, Make(Protocol::kPmi1, {{"PMI_SHIM_PROTOCOL", "pmi1"},
                                                {"PMI_RANK", "1"},
                                                {"PMI_SIZE", "2"},
                                                {"PMI_SHIM_HOST_TMP", "1:2"}}));
  ASSERT_OK(plan);
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
  absl::StatusOr<ExecPlan> plan =
      PlanExec({"PATH=/bin"}, Make(Protocol::kPmi2, {{"PMI_SHIM_PROTOCOL", "pmi2"},
                                                     {"PMI_RANK", "0"},
                                                     {"PMI_SIZE", "4"},
                                                     {"PMI_JOBID", "77.0"}}));
  ASSERT_OK(plan);
  EXPECT_THAT(plan->environment, Contains("PMI_JOBID=77.0"));
  EXPECT_THAT(plan->environment, Not(Contains(HasSubstr("PMI_SHIM_PROTOCOL"))));
}

TEST(PlanExecTest, PmiSocketNeedsRankAndSize) {
  absl::StatusOr<ExecPlan> plan =
      PlanExec({}, Make(Protocol::kPmi, {{"PMI_SHIM_PROTOCOL", "pmi"}, {"PMI_RANK", "0"}}));
  EXPECT_THAT(plan, testutil::StatusIs(::testing::_, HasSubstr("PMI_SIZE")));
}

TEST(PlanExecTest, PmixDropsPmiVariablesAndTheHostsPmix) {
  absl::StatusOr<ExecPlan> plan = PlanExec(
      kHostEnv, Make(Protocol::kPmix, {{"PMI_SHIM_PROTOCOL", "pmix"},
                                       {"PMIX_NAMESPACE", "job@1"},
                                       {"PMIX_RANK", "1"},
                                       {"PMIX_SERVER_URI41", "srv.0;tcp4://127.0.0.1:4242"},
                                       {"PMIX_SERVER_URI21", "srv.0;tcp4://127.0.0.1:4242"}}));
  ASSERT_OK(plan);
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
  EXPECT_FALSE(
      PlanExec({}, Make(Protocol::kPmix, {{"PMIX_NAMESPACE", "j"}, {"PMIX_RANK", "0"}})).ok());
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
    ASSERT_OK(plan);
    EXPECT_EQ(plan->mode, ExecMode::kDirect) << env[0];
    EXPECT_EQ(plan->environment, env);
  }
}

TEST(PlanExecTest, NothingAtAllIsASingleton) {
  absl::StatusOr<ExecPlan> plan = PlanExec({"PATH=/bin", "PMI_RANK=0"}, std::nullopt);
  ASSERT_OK(plan);
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

// A directory that offers both sides, as `pmi-bridge exec` publishes for a
// wrapper or an engine under hydra.
Rendezvous Both() {
  return Make(Protocol::kPmi, {{"PMI_SHIM_PROTOCOL", "pmi"},
                               {"PMI_SHIM_OFFERS", "pmi,pmix"},
                               {"PMI_RANK", "2"},
                               {"PMI_SIZE", "4"},
                               {"PMIX_NAMESPACE", "kvs_1"},
                               {"PMIX_RANK", "2"},
                               {"PMIX_SERVER_URI41", "pmix-server.9;tcp4://127.0.0.1:4000"},
                               {"OMPI_MCA_schizo", "ompi"},
                               {"PMI_SHIM_FD_INODE", "77"}});
}

TEST(PlanExecTest, UnusableInheritedFdFallsBackToTheRankDirectoryAndSaysSo) {
  const Environ env = {"PATH=/bin", "PMI_FD=5", "PMI_RANK=2", "PMI_SIZE=4",
                       "PMI_SHIM_DIR=/host/dir"};
  ExecChoices choices;
  choices.family = ClientFamily::kPmi;
  choices.inherited_fd = FdJudgement{false, "fd 5 is not open here (Bad file descriptor)"};
  absl::StatusOr<ExecPlan> plan = PlanExec(env, Both(), choices);
  ASSERT_OK(plan);
  EXPECT_EQ(plan->mode, ExecMode::kPmiSocket);
  EXPECT_EQ(plan->notice,
            "inherited PMI_FD=5 is not a usable socket here (fd 5 is not open here (Bad file "
            "descriptor)); using the rank directory /run/pmi-shim");
  // The dead number is gone; PMI_FD is set afresh to the connected socket.
  EXPECT_THAT(plan->environment, Not(Contains("PMI_FD=5")));
  // Only the PMI side of a two-sided directory reaches an MPICH program.
  EXPECT_THAT(plan->environment, Contains("PMI_SIZE=4"));
  EXPECT_THAT(plan->environment, Not(Contains(HasSubstr("PMIX_"))));
}

TEST(PlanExecTest, UsableInheritedFdIsUsedDirectly) {
  const Environ env = {"PATH=/bin", "PMI_FD=5", "PMI_RANK=2", "PMI_SIZE=4",
                       "PMI_SHIM_DIR=/host/dir"};
  ExecChoices choices;
  choices.family = ClientFamily::kPmi;
  choices.inherited_fd = FdJudgement{true, ""};
  absl::StatusOr<ExecPlan> plan = PlanExec(env, Both(), choices);
  ASSERT_OK(plan);
  EXPECT_EQ(plan->mode, ExecMode::kDirect);
  EXPECT_EQ(plan->notice, "");
  EXPECT_THAT(plan->environment, Contains("PMI_FD=5"));
}

TEST(PlanExecTest, NoInheritedFdNoNotice) {
  ExecChoices choices;
  choices.family = ClientFamily::kPmi;
  absl::StatusOr<ExecPlan> plan = PlanExec({"PATH=/bin"}, Both(), choices);
  ASSERT_OK(plan);
  EXPECT_EQ(plan->mode, ExecMode::kPmiSocket);
  EXPECT_EQ(plan->notice, "");
}

TEST(PlanExecTest, PmixSideOfATwoSidedDirectoryDropsPmiVariables) {
  const Environ env = {"PATH=/bin", "PMI_FD=5", "PMI_RANK=2", "PMI_SIZE=4"};
  ExecChoices choices;
  choices.family = ClientFamily::kPmix;
  choices.inherited_fd = FdJudgement{false, "gone"};
  absl::StatusOr<ExecPlan> plan = PlanExec(env, Both(), choices);
  ASSERT_OK(plan);
  EXPECT_EQ(plan->mode, ExecMode::kPmix);
  EXPECT_THAT(plan->environment, Contains("PMIX_NAMESPACE=kvs_1"));
  EXPECT_THAT(plan->environment, Contains("OMPI_MCA_schizo=ompi"));
  EXPECT_THAT(plan->environment, Not(Contains(HasSubstr("PMI_SIZE"))));
  EXPECT_THAT(plan->environment, Not(Contains(HasSubstr("PMI_FD"))));
}

TEST(ChooseFamilyTest, ProgramThenImageThenPreference) {
  const image::ClientEvidence none;
  const image::ClientEvidence mpich{ClientFamily::kPmi, "links libmpich.so.12"};
  const image::ClientEvidence ompi{ClientFamily::kPmix, "links libmpi.so.40"};
  EXPECT_EQ(ChooseFamily(Both(), ompi, mpich).family, ClientFamily::kPmix);
  EXPECT_EQ(ChooseFamily(Both(), none, ompi).family, ClientFamily::kPmix);
  FamilyChoice preferred = ChooseFamily(Both(), none, none);
  EXPECT_EQ(preferred.family, ClientFamily::kPmi);
  EXPECT_THAT(preferred.why, HasSubstr("preference"));
  // A directory that serves only PMI (--downstream pmi1) is not argued with.
  Rendezvous pmi_only =
      Make(Protocol::kPmi1, {{"PMI_SHIM_PROTOCOL", "pmi1"}, {"PMI_RANK", "0"}, {"PMI_SIZE", "2"}});
  FamilyChoice forced = ChooseFamily(pmi_only, ompi, none);
  EXPECT_EQ(forced.family, ClientFamily::kPmi);
  EXPECT_THAT(forced.warning, HasSubstr("drop --downstream"));
}

TEST(NeedsRequestTest, WhatTheFileLacks) {
  EXPECT_FALSE(NeedsRequest(Both(), ClientFamily::kPmi));
  EXPECT_FALSE(NeedsRequest(Both(), ClientFamily::kPmix));
  Rendezvous lazy =
      Make(Protocol::kPmi,
           {{"PMI_SHIM_PROTOCOL", "pmi"}, {"PMI_SHIM_OFFERS", "pmi,pmix"}, {"PMI_RANK", "1"}});
  EXPECT_TRUE(NeedsRequest(lazy, ClientFamily::kPmi));   // no PMI_SIZE yet
  EXPECT_TRUE(NeedsRequest(lazy, ClientFamily::kPmix));  // no server yet
  MergeEntries(lazy, {{"PMI_RANK", "1"}, {"PMI_SIZE", "4"}});
  EXPECT_FALSE(NeedsRequest(lazy, ClientFamily::kPmi));
  EXPECT_EQ(lazy.Get("PMI_SIZE"), "4");
  EXPECT_TRUE(Offers(lazy, ClientFamily::kPmix));
}

}  // namespace
}  // namespace pmi_shim::shim_client
