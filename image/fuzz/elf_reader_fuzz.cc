// Fuzz target for the ELF reader and the library classifier: any bytes as a
// library found in an image (pmi-bridge diagnose, pmi-shim-client inspect,
// the exec verb's client detection all read such files).
// Invariants: no crash; errors are InvalidArgument, one line, "malformed
// ELF: ..."; what a parse returns lies inside the file (sections within its
// bytes, names without NUL); a symbol string is at most the length asked
// for; parsing is deterministic; the classifier agrees with the parser.
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/string_view.h"
#include "image/elf_reader.h"
#include "image/library_classifier.h"
#include "tools/build/fuzz_check.h"

namespace {

using pmi_shim::image::ClassifyLibrary;
using pmi_shim::image::ElfInfo;
using pmi_shim::image::ElfSection;
using pmi_shim::image::LooksLikeElf;
using pmi_shim::image::ParseElf;
using pmi_shim::image::ReadSymbolString;

bool HasNul(absl::string_view text) { return text.find('\0') != absl::string_view::npos; }

void CheckInfo(absl::string_view bytes, const ElfInfo& elf) {
  FUZZ_CHECK(!HasNul(elf.soname));
  for (const std::string& needed : elf.needed) FUZZ_CHECK(!HasNul(needed));
  for (const ElfSection& section : elf.sections) {
    FUZZ_CHECK(section.offset <= bytes.size() && section.size <= bytes.size() - section.offset);
  }
  // ReadSymbolString on the first symbols (a hash map's order: any of them),
  // with a small and the classifier's large limit.
  int checked = 0;
  for (const auto& [name, value] : elf.symbols) {
    FUZZ_CHECK(!name.empty() && !HasNul(name));
    FUZZ_CHECK(elf.HasSymbol(name));
    for (size_t limit : {size_t{8}, size_t{8192}}) {
      if (std::optional<std::string> text = ReadSymbolString(bytes, elf, name, limit)) {
        FUZZ_CHECK(text->size() <= limit && !HasNul(*text));
        FUZZ_CHECK(absl::StrContains(bytes, *text));
      }
    }
    if (++checked == 16) break;
  }
  FUZZ_CHECK(!ReadSymbolString(bytes, elf, "\x01 not a symbol name").has_value() ||
             elf.HasSymbol("\x01 not a symbol name"));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const absl::string_view bytes(reinterpret_cast<const char*>(data), size);
  absl::StatusOr<ElfInfo> elf = ParseElf(bytes);
  if (!elf.ok()) {
    FUZZ_CHECK(elf.status().code() == absl::StatusCode::kInvalidArgument);
    FUZZ_CHECK(absl::StartsWith(elf.status().message(), "malformed ELF: "));
    FUZZ_CHECK(elf.status().message().find('\n') == absl::string_view::npos);
  } else {
    FUZZ_CHECK(LooksLikeElf(bytes));
    CheckInfo(bytes, *elf);
    absl::StatusOr<ElfInfo> again = ParseElf(bytes);
    FUZZ_CHECK(again.ok() && again->soname == elf->soname && again->needed == elf->needed &&
               again->symbols == elf->symbols && again->sections.size() == elf->sections.size());
  }
  // The classifier under the names that steer it: the soname decides for a
  // plain library, the file name for PMIx plugins and Open MPI's glue.
  for (absl::string_view path : {"/usr/lib/libmpi.so.12", "/usr/lib/pmix/mca_psec_native.so",
                                 "/usr/lib/openmpi/mca_pmix_pmix3x.so"}) {
    const auto library = ClassifyLibrary(path, bytes);
    FUZZ_CHECK(!library.has_value() || elf.ok());
    if (library.has_value()) {
      FUZZ_CHECK(library->path == path && library->soname == elf->soname);
      FUZZ_CHECK(!library->family.empty());
    }
  }
  return 0;
}
