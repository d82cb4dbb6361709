// ElfReader: the few facts pmi-bridge diagnose needs from a shared library
// in an image, read from its bytes without loading or running it.
//
// Pure over a byte buffer (fuzzable): every offset and size read from the
// file is bounds-checked, and a malformed file gives InvalidArgument, never
// a crash. Only 64- and 32-bit little-endian ELF is understood (what x86-64
// and aarch64 images carry); anything else is "not an ELF we read".
//
//   ASSIGN_OR_RETURN(ElfInfo elf, ParseElf(bytes));
//   elf.soname;                                  // DT_SONAME, "" if none
//   elf.HasSymbol("PMI2_Init");                  // a defined dynamic symbol
//   ReadSymbolString(bytes, elf, "MPII_Version_string");   // "4.0.2"
#ifndef PMI_SHIM_IMAGE_ELF_READER_H_
#define PMI_SHIM_IMAGE_ELF_READER_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace pmi_shim::image {

struct ElfSection {
  uint64_t address = 0;  // sh_addr
  uint64_t offset = 0;   // sh_offset
  uint64_t size = 0;     // sh_size
  uint32_t type = 0;     // sh_type
};

struct ElfInfo {
  bool is_64bit = true;
  std::string soname;               // DT_SONAME
  std::vector<std::string> needed;  // DT_NEEDED, in order
  // DT_RUNPATH, else DT_RPATH, split at ':' (where the loader looks first).
  std::vector<std::string> runpath;
  // Defined dynamic symbols (st_shndx != SHN_UNDEF) and their values.
  absl::flat_hash_map<std::string, uint64_t> symbols;
  // Sections with file contents (not NOBITS), to map addresses to offsets.
  std::vector<ElfSection> sections;

  bool HasSymbol(absl::string_view name) const { return symbols.contains(name); }
  // True when a symbol's name starts with `prefix` (e.g. component tables).
  bool HasSymbolWithPrefix(absl::string_view prefix) const;
};

// True when `bytes` starts with the ELF magic.
bool LooksLikeElf(absl::string_view bytes);

// Reads the dynamic section and the dynamic symbol table.
absl::StatusOr<ElfInfo> ParseElf(absl::string_view bytes);

// The NUL-terminated string stored at a defined symbol's address (e.g. a
// `const char x[] = "4.0.2"`), at most `max_length` bytes; nullopt when the
// symbol is missing or its address is outside the file's contents.
std::optional<std::string> ReadSymbolString(absl::string_view bytes, const ElfInfo& elf,
                                            absl::string_view symbol, size_t max_length = 256);

}  // namespace pmi_shim::image

#endif  // PMI_SHIM_IMAGE_ELF_READER_H_
