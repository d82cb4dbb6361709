// What real programs link tells their PMI family: the MPICH and Slurm
// libpmi2 test programs and the Open MPI one, as built here.
#include "image/client_detection.h"

#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "test/testing/runfiles.h"
#include "test/testing/status_matchers.h"

namespace pmi_shim::image {
namespace {

std::optional<ClientFamily> FamilyOf(const std::string& runfile) {
  absl::StatusOr<std::string> path = testutil::Runfile(runfile);
  EXPECT_OK(path);
  return path.ok() ? DetectClientFamily(*path) : std::nullopt;
}

TEST(ClientDetectionTest, RealProgramsByWhatTheyLink) {
  EXPECT_EQ(FamilyOf("test/programs/bin/mpi_collectives"), ClientFamily::kPmi);
  EXPECT_EQ(FamilyOf("test/programs/bin/pmi2_kvs"), ClientFamily::kPmi);
  EXPECT_EQ(FamilyOf("bridge/downstream/bin/pmix_ompi_app"), ClientFamily::kPmix);
  // Links libpmix.so.2 like a 2.x client, but the library (found through
  // its RUNPATH) is OpenPMIx 1.2.5.
  EXPECT_EQ(FamilyOf("test/programs/bin/pmix_v1_client"), ClientFamily::kPmixV1);
}

TEST(ClientDetectionTest, WhatCannotTellIsUnknown) {
  EXPECT_EQ(DetectClientFamily("/bin/sh"), std::nullopt);  // links no PMI library
  EXPECT_EQ(DetectClientFamily("/nonexistent"), std::nullopt);
  EXPECT_EQ(ClientFamilyOfLibraries({"libc.so.6", "libm.so.6"}), std::nullopt);
}

TEST(ClientDetectionTest, SonamesOfEachFamily) {
  EXPECT_EQ(ClientFamilyOfLibraries({"libc.so.6", "libmpi.so.40"}), ClientFamily::kPmix);
  EXPECT_EQ(ClientFamilyOfLibraries({"libpmix.so.2"}), ClientFamily::kPmix);
  EXPECT_EQ(ClientFamilyOfLibraries({"libmpich.so.12"}), ClientFamily::kPmi);
  EXPECT_EQ(ClientFamilyOfLibraries({"libmpi.so.12"}), ClientFamily::kPmi);  // Intel MPI, MVAPICH
  EXPECT_EQ(ClientFamilyOfLibraries({"libpmi2.so.0"}), ClientFamily::kPmi);
  EXPECT_EQ(ClientFamilyOfLibraries({"libmpi.so.20"}), ClientFamily::kPmixV1);  // Open MPI 2.x
}

// An image holding the lab's OpenPMIx 1.2.5 (or nothing when the lab is
// not installed): what --downstream auto reads for a container.
TEST(ImageDetectionTest, AV1LibpmixInARootfsOrBundleIsV1) {
  const std::string lab = "/opt/pmi-shim-peers/openpmix-1.2.5/lib/libpmix.so.2.0.3";
  if (::access(lab.c_str(), R_OK) != 0) GTEST_SKIP() << "the peers lab is not installed";
  const char* tmp = std::getenv("TEST_TMPDIR");
  const std::string bundle = absl::StrCat(tmp != nullptr ? tmp : "/tmp", "/v1-bundle");
  const std::string lib_dir = bundle + "/rootfs/usr/lib";
  std::filesystem::create_directories(lib_dir);
  std::filesystem::copy_file(lab, lib_dir + "/libpmix.so.2.0.3",
                             std::filesystem::copy_options::overwrite_existing);
  EXPECT_EQ(DetectImageClientFamily(bundle + "/rootfs"), ClientFamily::kPmixV1);
  std::ofstream(bundle + "/config.json") << R"({"ociVersion":"1.0.2","root":{"path":"rootfs"}})";
  EXPECT_EQ(DetectImageClientFamily(bundle), ClientFamily::kPmixV1);
  EXPECT_EQ(ImageDirectoryOf({"runc", "run", "--bundle", bundle, "rank0"}), bundle);
  EXPECT_EQ(ImageDirectoryOf({"ch-run", bundle + "/rootfs", "--", "/app/x"}), bundle + "/rootfs");
  EXPECT_EQ(ImageDirectoryOf({"podman", "run", "image:1", "/app/x"}), std::nullopt);
  EXPECT_EQ(DetectImageClientFamily("/nonexistent"), std::nullopt);
}

TEST(ClientDetectionTest, DeepFollowsScriptsAndLibraries) {
  absl::StatusOr<std::string> mpich = testutil::Runfile("test/programs/bin/mpi_collectives");
  ASSERT_OK(mpich);
  const std::vector<std::string> dirs = LibrarySearchDirs(*mpich, "");
  ClientEvidence direct = DetectClientFamilyDeep(*mpich, dirs, "/usr/bin:/bin");
  EXPECT_EQ(direct.family, ClientFamily::kPmi) << direct.why;
  EXPECT_EQ(direct.why, "links libmpich.so.12");

  // /bin/sh links nothing of MPI; a script run by it neither.
  ClientEvidence shell = DetectClientFamilyDeep("/bin/sh", dirs, "/usr/bin:/bin");
  EXPECT_EQ(shell.family, std::nullopt);
  EXPECT_FALSE(DetectClientFamilyDeep("/nonexistent", dirs, "").family.has_value());
}

TEST(ClientDetectionTest, LibrarySearchDirsOrder) {
  std::vector<std::string> dirs = LibrarySearchDirs("/opt/app/bin/solver", "/a:/b");
  ASSERT_GE(dirs.size(), 5u);
  EXPECT_EQ(dirs[0], "/a");
  EXPECT_EQ(dirs[1], "/b");
  EXPECT_EQ(dirs[2], "/opt/app/lib");
  EXPECT_EQ(dirs[3], "/opt/app/lib64");
}

}  // namespace
}  // namespace pmi_shim::image
