// Pure pieces: the ELF reader on the real libpmix and on every truncation
// of a real library, and version numbers.
#include "image/elf_reader.h"
#include "image/library_classifier.h"
#include "image/version_number.h"
#include "gtest/gtest.h"
#include "test/testing/files.h"
#include "test/testing/status_matchers.h"

namespace pmi_shim::image {
namespace {

using ::pmi_shim::testutil::ReadFile;

TEST(ElfReaderTest, ReadsTheRealLibraries) {
  const std::string pmix = ReadFile("/usr/lib/x86_64-linux-gnu/libpmix.so.2");
  if (pmix.empty()) GTEST_SKIP() << "libpmix2 not installed";
  absl::StatusOr<ElfInfo> elf = ParseElf(pmix);
  ASSERT_OK(elf);
  EXPECT_EQ(elf->soname, "libpmix.so.2");
  EXPECT_TRUE(elf->HasSymbol("PMIx_Init"));
  EXPECT_TRUE(elf->HasSymbol("pmix_mca_psec_munge_component"));
  EXPECT_EQ(FindPmixVersion(pmix), "4.2.2rc2");
  const std::string mpich = ReadFile("/usr/lib/x86_64-linux-gnu/libmpich.so.12");
  if (!mpich.empty()) {
    absl::StatusOr<ElfInfo> m = ParseElf(mpich);
    ASSERT_OK(m);
    EXPECT_EQ(ReadSymbolString(mpich, *m, "MPII_Version_string"), "4.0.2");
  }
}

TEST(ElfReaderTest, TruncatedAndCorruptFilesNeverCrash) {
  std::string lib = ReadFile("/usr/lib/x86_64-linux-gnu/libpmi2.so.0");
  if (lib.empty()) GTEST_SKIP() << "libpmi2 not installed";
  ASSERT_OK(ParseElf(lib));
  for (size_t size = 0; size < lib.size(); size += 97) {
    absl::StatusOr<ElfInfo> elf = ParseElf(absl::string_view(lib).substr(0, size));
    (void)elf;  // ok or an error, never a crash (ASan/UBSan runs check more)
  }
  std::string corrupt = lib;
  for (size_t i = 0x20; i < 0x40 && i < corrupt.size(); ++i) corrupt[i] = '\xff';
  EXPECT_FALSE(ParseElf(corrupt).ok());
  EXPECT_FALSE(ParseElf("not an elf").ok());
  EXPECT_FALSE(ClassifyLibrary("/usr/lib/libpmix.so.2", "\x7f" "ELF garbage").has_value());
}

TEST(VersionTest, ParsesAndCompares) {
  EXPECT_TRUE(VersionAtLeast("4.2.2rc2", 4, 2, 2));
  EXPECT_FALSE(VersionAtLeast("4.0.2", 4, 1));
  EXPECT_TRUE(VersionAtLeast("v2021.10", 2021, 0));
  EXPECT_FALSE(ParseVersion("rc1").has_value());
  EXPECT_TRUE(*ParseVersion("6.1") < *ParseVersion("6.1.1"));
}

}  // namespace
}  // namespace pmi_shim::image
