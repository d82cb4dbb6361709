#include "bridge/launch/rank_environment.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace pmi_shim::launch {
namespace {

using ::testing::Contains;
using ::testing::Not;

TEST(RankEnvironmentTest, FdModeReplacesForeignRendezvous) {
  std::vector<std::string> env =
      BuildRankEnvironment({"HOME=/root", "PMI_FD=9", "PMI_PORT=10.0.0.1:1", "PMIX_NAMESPACE=x",
                            "PMIX_RANK=0", "PRTE_LAUNCHED=1", "PMI_DEBUG=1", "MPI_LOCALRANKID=9"},
                           Rendezvous{3, 8, 11, "", 3, 8});
  EXPECT_THAT(env, Contains("HOME=/root"));
  EXPECT_THAT(env, Contains("PMI_DEBUG=1"));
  EXPECT_THAT(env, Contains("PMI_FD=11"));
  EXPECT_THAT(env, Contains("PMI_RANK=3"));
  EXPECT_THAT(env, Contains("PMI_SIZE=8"));
  EXPECT_THAT(env, Contains("MPI_LOCALRANKID=3"));
  EXPECT_THAT(env, Contains("MPI_LOCALNRANKS=8"));
  EXPECT_THAT(env, Not(Contains("PMI_FD=9")));
  EXPECT_THAT(env, Not(Contains("PMIX_NAMESPACE=x")));  // MPICH: "ambiguous launcher"
  EXPECT_THAT(env, Not(Contains("PRTE_LAUNCHED=1")));
  EXPECT_THAT(env, Not(Contains("MPI_LOCALRANKID=9")));
  for (const std::string& entry : env) EXPECT_NE(entry.rfind("PMI_PORT=", 0), 0u) << entry;
}

TEST(RankEnvironmentTest, UnknownLocalLayoutKeepsTheLaunchersHints) {
  std::vector<std::string> env = BuildRankEnvironment({"MPI_LOCALRANKID=1", "MPI_LOCALNRANKS=2"},
                                                      Rendezvous{5, 8, 3, "", -1, -1});
  EXPECT_THAT(env, Contains("MPI_LOCALRANKID=1"));
  EXPECT_THAT(env, Contains("MPI_LOCALNRANKS=2"));
}

TEST(RankEnvironmentTest, PmixClientsGetTheServersVariablesAndNoForeignOnes) {
  std::vector<std::string> env =
      BuildPmixRankEnvironment({"HOME=/root", "PMI_FD=9", "PMI_SIZE=4", "PMIX_NAMESPACE=outer",
                                "PMIX_MCA_gds=hash", "OMPI_MCA_schizo=orte"},
                               {"PMIX_NAMESPACE=inner", "PMIX_RANK=2", "OMPI_MCA_schizo=ompi"});
  EXPECT_THAT(env, Contains("HOME=/root"));
  EXPECT_THAT(env, Contains("PMIX_MCA_gds=hash")) << "library settings pass";
  EXPECT_THAT(env, Contains("PMIX_NAMESPACE=inner"));
  EXPECT_THAT(env, Contains("OMPI_MCA_schizo=ompi"));
  EXPECT_THAT(env, Not(Contains("PMIX_NAMESPACE=outer")));
  EXPECT_THAT(env, Not(Contains("OMPI_MCA_schizo=orte")));
  EXPECT_THAT(env, Not(Contains("PMI_FD=9")));
  EXPECT_THAT(env, Not(Contains("PMI_SIZE=4"))) << "PMI_SIZE with PMIX_NAMESPACE is fatal to MPICH";
}

TEST(RankEnvironmentTest, PortModeNamesAddressAndId) {
  std::vector<std::string> env =
      BuildRankEnvironment({"PATH=/bin"}, Rendezvous{1, 2, -1, "127.0.0.1:4567", 1, 2});
  EXPECT_THAT(env, Contains("PMI_PORT=127.0.0.1:4567"));
  EXPECT_THAT(env, Contains("PMI_ID=1"));
  EXPECT_THAT(env, Contains("PMI_RANK=1"));
  for (const std::string& entry : env) EXPECT_NE(entry.rfind("PMI_FD=", 0), 0u) << entry;
}

}  // namespace
}  // namespace pmi_shim::launch
