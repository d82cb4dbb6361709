#include "image/elf_reader.h"

#include <algorithm>
#include <cstring>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/status_macros.h"

namespace pmi_shim::image {
namespace {

constexpr uint32_t kShtStrtab = 3;
constexpr uint32_t kShtNobits = 8;
constexpr uint32_t kShtDynamic = 6;
constexpr uint32_t kShtDynsym = 11;
constexpr int64_t kDtNull = 0;
constexpr int64_t kDtNeeded = 1;
constexpr int64_t kDtSoname = 14;
constexpr int64_t kDtRpath = 15;
constexpr int64_t kDtRunpath = 29;
// A real library has a few dozen sections and a few thousand symbols;
// bounds keep a hostile file from costing much.
constexpr uint64_t kMaxSections = 4096;
constexpr uint64_t kMaxSymbols = 1 << 20;
// Names longer than this are skipped (no name we look for comes close).
// Without it, a string table with no NUL made every symbol scan to its end:
// symbols x table size, hours for a hostile file of a few MB.
constexpr uint64_t kMaxNameLength = 4096;

// Little-endian reads, bounds-checked against the whole file.
class Bytes {
 public:
  explicit Bytes(absl::string_view data) : data_(data) {}
  bool Has(uint64_t offset, uint64_t size) const {
    return offset <= data_.size() && size <= data_.size() - offset;
  }
  uint64_t Read(uint64_t offset, int width) const {
    uint64_t value = 0;
    for (int i = width - 1; i >= 0; --i) {
      value = (value << 8) | static_cast<unsigned char>(data_[offset + i]);
    }
    return value;
  }
  // The NUL-terminated string at `offset`, at most `limit` bytes long.
  std::optional<std::string> CString(uint64_t offset, uint64_t limit) const {
    if (offset >= data_.size()) return std::nullopt;
    const uint64_t span = std::min<uint64_t>(limit, data_.size() - offset - 1) + 1;
    const char* start = data_.data() + offset;
    const void* nul = std::memchr(start, '\0', span);
    if (nul == nullptr) return std::nullopt;
    return std::string(start, static_cast<size_t>(static_cast<const char*>(nul) - start));
  }

 private:
  absl::string_view data_;
};

struct RawSection {
  uint32_t name = 0;
  uint32_t type = 0;
  uint64_t address = 0;
  uint64_t offset = 0;
  uint64_t size = 0;
  uint32_t link = 0;
  uint64_t entry_size = 0;
};

// Where ELF32 and ELF64 keep the fields read here: {offset, width}.
struct Field {
  uint64_t at;
  int width;
};
struct ElfLayout {
  int word;
  uint64_t header_size;
  Field shoff, shentsize, shnum;  // in the file header
  uint64_t min_section_entry;
  Field sh_address, sh_offset, sh_size, sh_link, sh_entry_size;  // in a section header
  uint64_t symbol_entry;
  Field st_value, st_shndx;  // in a symbol (st_name is always the first 4 bytes)
};
constexpr ElfLayout kElf32 = {
    /*word=*/4,
    /*header_size=*/52,
    /*shoff=*/{0x20, 4},
    /*shentsize=*/{0x2e, 2},
    /*shnum=*/{0x30, 2},
    /*min_section_entry=*/40,
    /*sh_address=*/{0x0c, 4},
    /*sh_offset=*/{0x10, 4},
    /*sh_size=*/{0x14, 4},
    /*sh_link=*/{0x18, 4},
    /*sh_entry_size=*/{0x24, 4},
    /*symbol_entry=*/16,
    /*st_value=*/{4, 4},
    /*st_shndx=*/{14, 2}};
constexpr ElfLayout kElf64 = {
    /*word=*/8,
    /*header_size=*/64,
    /*shoff=*/{0x28, 8},
    /*shentsize=*/{0x3a, 2},
    /*shnum=*/{0x3c, 2},
    /*min_section_entry=*/64,
    /*sh_address=*/{0x10, 8},
    /*sh_offset=*/{0x18, 8},
    /*sh_size=*/{0x20, 8},
    /*sh_link=*/{0x28, 4},
    /*sh_entry_size=*/{0x38, 8},
    /*symbol_entry=*/24,
    /*st_value=*/{8, 8},
    /*st_shndx=*/{6, 2}};

absl::Status Bad(absl::string_view what) {
  return absl::InvalidArgumentError(absl::StrCat("malformed ELF: ", what));
}

}  // namespace

bool ElfInfo::HasSymbolWithPrefix(absl::string_view prefix) const {
  for (const auto& [name, value] : symbols) {
    if (absl::StartsWith(name, prefix)) return true;
  }
  return false;
}

bool LooksLikeElf(absl::string_view bytes) {
  return bytes.size() >= 4 && std::memcmp(bytes.data(),
                                          "\x7f"
                                          "ELF",
                                          4) == 0;
}

namespace {

// Reads the sections of one file, then what the dynamic linker sees in them.
class ElfParser {
 public:
  ElfParser(absl::string_view data, const ElfLayout& layout, ElfInfo& info)
      : bytes_(data), layout_(layout), info_(info) {}

  // The section headers; nothing when the file has none (stripped).
  absl::Status ReadSections() {
    const uint64_t shoff = Read(0, layout_.shoff);
    const uint64_t shentsize = Read(0, layout_.shentsize);
    const uint64_t shnum = Read(0, layout_.shnum);
    if (shnum == 0 || shoff == 0) return absl::OkStatus();  // stripped of sections
    if (shnum > kMaxSections) return Bad("too many sections");
    if (shentsize < layout_.min_section_entry) return Bad("section header too small");
    if (shnum > (UINT64_MAX / shentsize) || !bytes_.Has(shoff, shnum * shentsize)) {
      return Bad("section headers outside the file");
    }
    sections_.resize(shnum);
    for (uint64_t i = 0; i < shnum; ++i) {
      const uint64_t at = shoff + i * shentsize;
      RawSection& s = sections_[i];
      s.name = static_cast<uint32_t>(bytes_.Read(at, 4));
      s.type = static_cast<uint32_t>(bytes_.Read(at + 4, 4));
      s.address = Read(at, layout_.sh_address);
      s.offset = Read(at, layout_.sh_offset);
      s.size = Read(at, layout_.sh_size);
      s.link = static_cast<uint32_t>(Read(at, layout_.sh_link));
      s.entry_size = Read(at, layout_.sh_entry_size);
      if (s.type != kShtNobits && s.type != 0 && bytes_.Has(s.offset, s.size)) {
        info_.sections.push_back({s.address, s.offset, s.size, s.type});
      }
    }
    return absl::OkStatus();
  }

  // DT_SONAME, DT_NEEDED and the dynamic symbols. The full symbol table is
  // skipped: only what the dynamic linker sees counts.
  absl::Status ReadDynamicParts() {
    for (const RawSection& s : sections_) {
      if (s.type == kShtDynamic) {
        RETURN_IF_ERROR(ReadDynamic(s));
      } else if (s.type == kShtDynsym) {
        RETURN_IF_ERROR(ReadDynamicSymbols(s));
      }
    }
    return absl::OkStatus();
  }

 private:
  uint64_t Read(uint64_t base, Field field) const {
    return bytes_.Read(base + field.at, field.width);
  }

  const RawSection* StringTable(uint32_t link) const {
    if (link >= sections_.size() || sections_[link].type != kShtStrtab) return nullptr;
    if (!bytes_.Has(sections_[link].offset, sections_[link].size)) return nullptr;
    return &sections_[link];
  }

  std::optional<std::string> StringAt(const RawSection& table, uint64_t index) const {
    if (index >= table.size) return std::nullopt;
    return bytes_.CString(table.offset + index, std::min(table.size - index - 1, kMaxNameLength));
  }

  absl::Status ReadDynamic(const RawSection& s) {
    const RawSection* strings = StringTable(s.link);
    if (strings == nullptr) return Bad("dynamic section without a string table");
    if (!bytes_.Has(s.offset, s.size)) return Bad("dynamic section outside the file");
    const int word = layout_.word;
    const uint64_t entry = 2 * word;
    bool has_runpath = false;
    for (uint64_t at = s.offset; at + entry <= s.offset + s.size; at += entry) {
      const int64_t tag = static_cast<int64_t>(bytes_.Read(at, word));
      const uint64_t value = bytes_.Read(at + word, word);
      if (tag == kDtNull) break;
      if (tag != kDtNeeded && tag != kDtSoname && tag != kDtRpath && tag != kDtRunpath) continue;
      std::optional<std::string> text = StringAt(*strings, value);
      if (!text) return Bad("dynamic entry names a string outside its table");
      if (tag == kDtSoname) {
        info_.soname = *text;
      } else if (tag == kDtRunpath || tag == kDtRpath) {
        // RUNPATH wins over RPATH when both are present.
        if (tag == kDtRunpath || !has_runpath) {
          info_.runpath = absl::StrSplit(*text, ':', absl::SkipEmpty());
        }
        has_runpath = has_runpath || tag == kDtRunpath;
      } else {
        info_.needed.push_back(*text);
      }
    }
    return absl::OkStatus();
  }

  absl::Status ReadDynamicSymbols(const RawSection& s) {
    const RawSection* strings = StringTable(s.link);
    if (strings == nullptr) return Bad("symbol table without a string table");
    if (!bytes_.Has(s.offset, s.size)) return Bad("symbol table outside the file");
    const uint64_t entry = layout_.symbol_entry;
    if (s.size / entry > kMaxSymbols) return Bad("too many symbols");
    for (uint64_t at = s.offset; at + entry <= s.offset + s.size; at += entry) {
      const uint32_t name = static_cast<uint32_t>(bytes_.Read(at, 4));
      const uint64_t value = Read(at, layout_.st_value);
      const uint16_t shndx = static_cast<uint16_t>(Read(at, layout_.st_shndx));
      if (shndx == 0 || name == 0) continue;  // undefined: the library uses it, not has it
      std::optional<std::string> text = StringAt(*strings, name);
      if (!text || text->empty()) continue;
      info_.symbols.emplace(*std::move(text), value);
    }
    return absl::OkStatus();
  }

  Bytes bytes_;
  const ElfLayout& layout_;
  ElfInfo& info_;
  std::vector<RawSection> sections_;
};

}  // namespace

absl::StatusOr<ElfInfo> ParseElf(absl::string_view data) {
  if (!LooksLikeElf(data)) return Bad("no ELF magic");
  Bytes bytes(data);
  if (!bytes.Has(0, 16)) return Bad("truncated header");
  const int elf_class = static_cast<unsigned char>(data[4]);
  if (elf_class != 1 && elf_class != 2) return Bad("unknown class");
  if (data[5] != 1) return Bad("not little-endian");
  ElfInfo info;
  info.is_64bit = elf_class == 2;
  const ElfLayout& layout = info.is_64bit ? kElf64 : kElf32;
  if (!bytes.Has(0, layout.header_size)) return Bad("truncated header");
  ElfParser parser(data, layout, info);
  RETURN_IF_ERROR(parser.ReadSections());
  RETURN_IF_ERROR(parser.ReadDynamicParts());
  return info;
}

std::optional<std::string> ReadSymbolString(absl::string_view data, const ElfInfo& elf,
                                            absl::string_view symbol, size_t max_length) {
  auto it = elf.symbols.find(symbol);
  if (it == elf.symbols.end()) return std::nullopt;
  const uint64_t address = it->second;
  for (const ElfSection& section : elf.sections) {
    if (section.address == 0 || address < section.address ||
        address - section.address >= section.size) {
      continue;
    }
    const uint64_t offset = section.offset + (address - section.address);
    Bytes bytes(data);
    return bytes.CString(offset,
                         std::min<uint64_t>(max_length, section.offset + section.size - offset));
  }
  return std::nullopt;
}

}  // namespace pmi_shim::image
