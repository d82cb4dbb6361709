// Pure pieces: the ELF reader on the real libpmix and on every truncation
// of a real library, and version numbers.
#include "gtest/gtest.h"
#include "image/elf_reader.h"
#include "image/library_classifier.h"
#include "image/version_number.h"
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
  EXPECT_FALSE(ClassifyLibrary("/usr/lib/libpmix.so.2",
                               "\x7f"
                               "ELF garbage")
                   .has_value());
}

// A little-endian 64-bit ELF with a string table and a dynamic symbol table
// whose first `long_names` symbols all name the same string of `long_length`
// bytes, and a last one named "PMI2_Init".
std::string ElfWithLongNames(int long_names, size_t long_length) {
  auto put = [](std::string& out, size_t at, uint64_t value, int width) {
    for (int i = 0; i < width; ++i) out[at + i] = static_cast<char>((value >> (8 * i)) & 0xff);
  };
  std::string strtab = std::string(1, '\0') + std::string(long_length, 'a') + '\0';
  const size_t pmi2_init = strtab.size();
  strtab += std::string("PMI2_Init") + '\0';
  const int symbols = long_names + 1;
  std::string dynsym(static_cast<size_t>(symbols) * 24, '\0');
  for (int i = 0; i < symbols; ++i) {
    put(dynsym, i * 24, i < long_names ? 1 : pmi2_init, 4);  // st_name
    put(dynsym, i * 24 + 6, 1, 2);                           // st_shndx: defined
  }
  const size_t strtab_at = 64, dynsym_at = strtab_at + strtab.size();
  const size_t headers_at = dynsym_at + dynsym.size();
  std::string elf(headers_at + 3 * 64, '\0');
  elf.replace(0, 4,
              "\x7f"
              "ELF");
  elf[4] = 2;  // 64-bit
  elf[5] = 1;  // little-endian
  elf[6] = 1;
  put(elf, 0x28, headers_at, 8);  // e_shoff
  put(elf, 0x3a, 64, 2);          // e_shentsize
  put(elf, 0x3c, 3, 2);           // e_shnum: null, .dynstr, .dynsym
  elf.replace(strtab_at, strtab.size(), strtab);
  elf.replace(dynsym_at, dynsym.size(), dynsym);
  const size_t dynstr = headers_at + 64, symtab = headers_at + 128;
  put(elf, dynstr + 4, 3, 4);  // SHT_STRTAB
  put(elf, dynstr + 0x18, strtab_at, 8);
  put(elf, dynstr + 0x20, strtab.size(), 8);
  put(elf, symtab + 4, 11, 4);  // SHT_DYNSYM
  put(elf, symtab + 0x18, dynsym_at, 8);
  put(elf, symtab + 0x20, dynsym.size(), 8);
  put(elf, symtab + 0x28, 1, 4);  // sh_link: .dynstr
  return elf;
}

// Names over 4 KiB are skipped: none we look for is long, and reading each
// to its end made a hostile file (many symbols naming one string without a
// NUL) cost symbols x table size.
TEST(ElfReaderTest, OverlongSymbolNamesAreSkippedNotScanned) {
  absl::StatusOr<ElfInfo> plain = ParseElf(ElfWithLongNames(3, 100));
  ASSERT_OK(plain);
  EXPECT_TRUE(plain->HasSymbol(std::string(100, 'a')));
  EXPECT_TRUE(plain->HasSymbol("PMI2_Init"));

  // 20,000 symbols naming one 1 MiB string: 20 G byte reads before.
  absl::StatusOr<ElfInfo> hostile = ParseElf(ElfWithLongNames(20000, 1 << 20));
  ASSERT_OK(hostile);
  EXPECT_EQ(hostile->symbols.size(), 1u);
  EXPECT_TRUE(hostile->HasSymbol("PMI2_Init"));
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
