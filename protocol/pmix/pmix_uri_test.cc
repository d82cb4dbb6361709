#include "protocol/pmix/pmix_uri.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "test/testing/status_matchers.h"

namespace pmi_shim::pmix {
namespace {

using ::testing::Contains;
using ::testing::HasSubstr;

TEST(PmixUriTest, ParsesOpenMpiAndSlurmForms) {
  absl::StatusOr<PmixUri> ompi = ParsePmixUri("361824256.0;tcp4://127.0.0.1:35601");
  ASSERT_OK(ompi);
  EXPECT_EQ(ompi->server_id, "361824256.0");
  EXPECT_EQ(ompi->host, "127.0.0.1");
  EXPECT_EQ(ompi->port, 35601);
  // Slurm's server nspace has dots; only the single ';' splits.
  absl::StatusOr<PmixUri> slurm = ParsePmixUri("slurm.pmix.12.0.0;tcp6://[::1]:4000");
  ASSERT_OK(slurm);
  EXPECT_EQ(slurm->server_id, "slurm.pmix.12.0.0");
  EXPECT_EQ(slurm->host, "::1");
  EXPECT_EQ(slurm->ToString(), "slurm.pmix.12.0.0;tcp6://[::1]:4000");
}

TEST(PmixUriTest, RejectsWhatNoClientCouldUse) {
  for (const char* bad : {"x;tcp4://1.2.3.4", "x;tcp4://1.2.3.4:0", "x;tcp4://:5", "x;usock:/tmp/p",
                          "x;y;tcp4://1.2.3.4:5", "tcp4://1.2.3.4:5", "x;tcp6://::1:5"}) {
    EXPECT_FALSE(ParsePmixUri(bad).ok()) << bad;
  }
  EXPECT_THAT(std::string(ParsePmixUri("x").status().message()), HasSubstr("exactly one ';'"));
}

TEST(PmixUriTest, RewritesEveryServerUriAndKeepsTheRest) {
  absl::StatusOr<RewrittenEnvironment> rewritten =
      RewritePmixServerUris({"PMIX_NAMESPACE=job", "PMIX_SERVER_URI2=s.0;tcp4://127.0.0.1:35601",
                             "PMIX_SERVER_URI41=s.0;tcp4://127.0.0.1:35601", "HOME=/root"},
                            "127.0.0.1", 40000);
  ASSERT_OK(rewritten);
  EXPECT_EQ(rewritten->original.port, 35601);
  EXPECT_THAT(rewritten->environment, Contains("PMIX_SERVER_URI2=s.0;tcp4://127.0.0.1:40000"));
  EXPECT_THAT(rewritten->environment, Contains("PMIX_SERVER_URI41=s.0;tcp4://127.0.0.1:40000"));
  EXPECT_THAT(rewritten->environment, Contains("PMIX_NAMESPACE=job"));
  EXPECT_EQ(rewritten->environment.size(), 4u);
}

TEST(PmixUriTest, RefusesTwoServersOrNone) {
  EXPECT_EQ(RewritePmixServerUris({"HOME=/"}, "127.0.0.1", 1).status().code(),
            absl::StatusCode::kNotFound);
  absl::Status mixed = RewritePmixServerUris({"PMIX_SERVER_URI2=a.0;tcp4://127.0.0.1:1",
                                              "PMIX_SERVER_URI3=b.0;tcp4://127.0.0.1:2"},
                                             "127.0.0.1", 9)
                           .status();
  EXPECT_THAT(std::string(mixed.message()), HasSubstr("two PMIx servers"));
}

}  // namespace
}  // namespace pmi_shim::pmix
