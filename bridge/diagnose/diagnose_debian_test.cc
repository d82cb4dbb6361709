// diagnose on real rootfs trees assembled from Debian's installed MPICH,
// Open MPI and PMIx packages (the files `dpkg -L` lists, symlinks kept),
// judged against the environments real hydra and mpirun.openmpi give.
#include <stdlib.h>

#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "bridge/diagnose/host_analysis.h"
#include "bridge/diagnose/testing/verdict_queries.h"
#include "bridge/diagnose/verdict.h"
#include "gtest/gtest.h"
#include "image/image_scan.h"
#include "image/testing/fixture_image.h"
#include "test/testing/status_matchers.h"

namespace pmi_shim::diagnose {

using image::FormatImageReport;
using image::ImageReport;
using image::LibraryInfo;
using image::ResolveInRoot;
using image::ScanImage;
namespace {

// Copies every file of `packages` into `root`, keeping symlinks as symlinks.
bool CopyPackages(const std::string& root, const std::string& packages) {
  const std::string command = absl::StrCat(
      "dpkg -L ", packages, " | while read -r f; do if [ -f \"$f\" ] || [ -L \"$f\" ]; then ",
      "mkdir -p '", root, "'\"$(dirname \"$f\")\" && cp -a \"$f\" '", root, "'\"$f\"; fi; done");
  return system(command.c_str()) == 0;
}

bool Installed(const std::string& package) {
  return system(absl::StrCat("dpkg -s ", package, " >/dev/null 2>&1").c_str()) == 0;
}

TEST(DiagnoseDebianTest, MpichImageUnderOpenMpiAndHydra) {
  if (!Installed("libmpich12")) GTEST_SKIP() << "libmpich12 is not installed";
  const std::string root = image::testing::MakeTempDir("mpich-image");
  ASSERT_TRUE(CopyPackages(root, "libmpich12"));
  absl::StatusOr<ImageReport> image = ScanImage(root);
  ASSERT_OK(image);
  EXPECT_EQ(image->mpi_family, "mpich") << FormatImageReport(*image);
  EXPECT_EQ(image->mpi_version, "4.0.2");
  // Debian's MPICH 4.0.2 has no PMI-2 or PMIx client compiled in (real-peers.md).
  EXPECT_EQ(absl::StrJoin(image->client_protocols, ","), "PMI-1");

  upstream::Environment ompi = {{"PMIX_NAMESPACE", "1"},
                                {"PMIX_RANK", "0"},
                                {"PMIX_SERVER_URI41", "0.0;tcp4://127.0.0.1:5"},
                                {"PMIX_VERSION", "4.2.2rc2"}};
  ContainerFacts priv;
  priv.known = true;
  priv.network = "private";
  Verdict v = Decide(AnalyzeHost(ompi, "t"), *image, priv);
  EXPECT_EQ(v.outcome, kOutcomeBridge);
  EXPECT_EQ(
      testing::RunFix(v),
      "pmi-bridge exec --downstream pmi1 -- ENGINE run ... IMAGE pmi-shim-client exec -- APP");

  upstream::Environment hydra_port = {{"PMI_PORT", "vm:1234"}, {"PMI_ID", "0"}};
  ContainerFacts host;
  host.known = true;
  host.network = "host";
  EXPECT_EQ(Decide(AnalyzeHost(hydra_port, "t"), *image, host).outcome, kOutcomeDirect);
  system(absl::StrCat("rm -rf '", root, "'").c_str());
}

TEST(DiagnoseDebianTest, OpenMpiImageUnderOpenMpiAndHydra) {
  if (!Installed("libopenmpi3") || !Installed("libpmix2"))
    GTEST_SKIP() << "Open MPI / PMIx not installed";
  const std::string root = image::testing::MakeTempDir("ompi-image");
  ASSERT_TRUE(CopyPackages(root, "libopenmpi3 libpmix2"));
  absl::StatusOr<ImageReport> image = ScanImage(root);
  ASSERT_OK(image);
  EXPECT_EQ(image->mpi_family, "openmpi") << FormatImageReport(*image);
  EXPECT_EQ(image->mpi_version, "4.1.4");
  EXPECT_EQ(image->pmix_version, "4.2.2rc2");
  EXPECT_EQ(image->default_protocol, "PMIx");
  for (const char* component : {"psec/munge", "psec/native", "gds/ds12", "gds/ds21", "gds/hash",
                                "bfrops/v12", "bfrops/v41"}) {
    EXPECT_TRUE(image->HasComponent(component)) << component;
  }
  bool ext3x = false;
  for (const LibraryInfo& lib : image->libraries) ext3x |= lib.component == "pmix/ext3x";
  EXPECT_TRUE(ext3x);

  // What mpirun.openmpi 4.1.4 exports (real-peers.md).
  upstream::Environment ompi = {{"PMIX_NAMESPACE", "1727856641"},
                                {"PMIX_RANK", "0"},
                                {"PMIX_SERVER_URI41", "1727856640.0;tcp4://127.0.0.1:59453"},
                                {"PMIX_SERVER_URI2", "1727856640.0;tcp4://127.0.0.1:59453"},
                                {"PMIX_SECURITY_MODE", "native"},
                                {"PMIX_GDS_MODULE", "ds21,ds12,hash"},
                                {"PMIX_VERSION", "4.2.2rc2"},
                                {"OMPI_COMM_WORLD_SIZE", "1"}};
  ContainerFacts priv;
  priv.known = true;
  priv.network = "private";
  Verdict v = Decide(AnalyzeHost(ompi, "t"), *image, priv);
  EXPECT_EQ(v.outcome, kOutcomeDirectWithHook) << FormatVerdict(v);
  EXPECT_TRUE(testing::HasFix(v, "env", "PMIX_MCA_gds=hash")) << FormatVerdict(v);

  upstream::Environment hydra = {
      {"PMI_FD", "6"}, {"PMI_RANK", "0"}, {"PMI_SIZE", "1"}, {"HYDI_CONTROL_FD", "7"}};
  Verdict under_hydra = Decide(AnalyzeHost(hydra, "t"), *image, priv);
  EXPECT_EQ(under_hydra.outcome, kOutcomeBridge);
  EXPECT_EQ(
      testing::RunFix(under_hydra),
      "pmi-bridge exec --downstream pmix -- ENGINE run ... IMAGE pmi-shim-client exec -- APP");
  system(absl::StrCat("rm -rf '", root, "'").c_str());
}

TEST(ImageScanTest, SymlinksStayInsideTheRoot) {
  const std::string root = image::testing::MakeTempDir("escape");
  // An image whose libpmix symlink points at the host's libpmix by absolute
  // path: it must be resolved inside the image (where it does not exist).
  ASSERT_EQ(system(absl::StrCat("mkdir -p '", root,
                                "/usr/lib' && ln -s /usr/lib/x86_64-linux-gnu/libpmix.so.2 '", root,
                                "/usr/lib/libpmix.so.2' && ln -s ../../../../../../../etc '", root,
                                "/usr/lib/up'")
                       .c_str()),
            0);
  absl::StatusOr<ImageReport> image = ScanImage(root);
  ASSERT_OK(image);
  EXPECT_TRUE(image->libraries.empty()) << FormatImageReport(*image);
  absl::StatusOr<std::string> up = ResolveInRoot(root, "/usr/lib/up/passwd");
  EXPECT_FALSE(up.ok());  // /etc/passwd of the image, which does not exist
  EXPECT_FALSE(ScanImage(root + "/nonexistent").ok());
  system(absl::StrCat("rm -rf '", root, "'").c_str());
}

}  // namespace
}  // namespace pmi_shim::diagnose
