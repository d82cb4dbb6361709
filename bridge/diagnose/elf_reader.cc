#include "bridge/diagnose/elf_reader.h"

#include <cstring>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace pmi_shim::diagnose {
namespace {

constexpr uint32_t kShtSymtab = 2;
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
  // The NUL-terminated string at `offset`, limited to `limit` bytes.
  std::optional<std::string> CString(uint64_t offset, uint64_t limit) const {
    if (offset >= data_.size()) return std::nullopt;
    uint64_t end = offset;
    while (end < data_.size() && end - offset < limit && data_[end] != '\0') ++end;
    if (end >= data_.size() || data_[end] != '\0') return std::nullopt;
    return std::string(data_.substr(offset, end - offset));
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
  return bytes.size() >= 4 && std::memcmp(bytes.data(), "\x7f" "ELF", 4) == 0;
}

absl::StatusOr<ElfInfo> ParseElf(absl::string_view data) {
  if (!LooksLikeElf(data)) return Bad("no ELF magic");
  Bytes bytes(data);
  if (!bytes.Has(0, 16)) return Bad("truncated header");
  const int elf_class = static_cast<unsigned char>(data[4]);
  if (elf_class != 1 && elf_class != 2) return Bad("unknown class");
  if (data[5] != 1) return Bad("not little-endian");
  ElfInfo info;
  info.is_64bit = elf_class == 2;
  const int word = info.is_64bit ? 8 : 4;
  if (!bytes.Has(0, info.is_64bit ? 64 : 52)) return Bad("truncated header");

  const uint64_t shoff = bytes.Read(info.is_64bit ? 0x28 : 0x20, word);
  const uint64_t shentsize = bytes.Read(info.is_64bit ? 0x3a : 0x2e, 2);
  const uint64_t shnum = bytes.Read(info.is_64bit ? 0x3c : 0x30, 2);
  if (shnum == 0 || shoff == 0) return info;  // stripped of sections: nothing to read
  if (shnum > kMaxSections) return Bad("too many sections");
  const uint64_t min_entry = info.is_64bit ? 64 : 40;
  if (shentsize < min_entry) return Bad("section header too small");
  if (shnum > (UINT64_MAX / shentsize) || !bytes.Has(shoff, shnum * shentsize)) {
    return Bad("section headers outside the file");
  }

  std::vector<RawSection> sections(shnum);
  for (uint64_t i = 0; i < shnum; ++i) {
    const uint64_t at = shoff + i * shentsize;
    RawSection& s = sections[i];
    s.name = static_cast<uint32_t>(bytes.Read(at, 4));
    s.type = static_cast<uint32_t>(bytes.Read(at + 4, 4));
    if (info.is_64bit) {
      s.address = bytes.Read(at + 0x10, 8);
      s.offset = bytes.Read(at + 0x18, 8);
      s.size = bytes.Read(at + 0x20, 8);
      s.link = static_cast<uint32_t>(bytes.Read(at + 0x28, 4));
      s.entry_size = bytes.Read(at + 0x38, 8);
    } else {
      s.address = bytes.Read(at + 0x0c, 4);
      s.offset = bytes.Read(at + 0x10, 4);
      s.size = bytes.Read(at + 0x14, 4);
      s.link = static_cast<uint32_t>(bytes.Read(at + 0x18, 4));
      s.entry_size = bytes.Read(at + 0x24, 4);
    }
    if (s.type != kShtNobits && s.type != 0 && bytes.Has(s.offset, s.size)) {
      info.sections.push_back({s.address, s.offset, s.size, s.type});
    }
  }

  auto string_table = [&](uint32_t link) -> const RawSection* {
    if (link >= sections.size() || sections[link].type != kShtStrtab) return nullptr;
    if (!bytes.Has(sections[link].offset, sections[link].size)) return nullptr;
    return &sections[link];
  };
  auto string_at = [&](const RawSection& table, uint64_t index) -> std::optional<std::string> {
    if (index >= table.size) return std::nullopt;
    return bytes.CString(table.offset + index, table.size - index);
  };

  bool has_runpath = false;
  for (const RawSection& s : sections) {
    if (s.type == kShtDynamic) {
      const RawSection* strings = string_table(s.link);
      if (strings == nullptr) return Bad("dynamic section without a string table");
      if (!bytes.Has(s.offset, s.size)) return Bad("dynamic section outside the file");
      const uint64_t entry = 2 * word;
      for (uint64_t at = s.offset; at + entry <= s.offset + s.size; at += entry) {
        const int64_t tag = static_cast<int64_t>(bytes.Read(at, word));
        const uint64_t value = bytes.Read(at + word, word);
        if (tag == kDtNull) break;
        if (tag != kDtNeeded && tag != kDtSoname && tag != kDtRpath && tag != kDtRunpath) continue;
        std::optional<std::string> text = string_at(*strings, value);
        if (!text) return Bad("dynamic entry names a string outside its table");
        if (tag == kDtSoname) {
          info.soname = *text;
        } else if (tag == kDtRunpath || tag == kDtRpath) {
          // RUNPATH wins over RPATH when both are present.
          if (tag == kDtRunpath || !has_runpath) {
            info.runpath = absl::StrSplit(*text, ':', absl::SkipEmpty());
          }
          has_runpath = has_runpath || tag == kDtRunpath;
        } else {
          info.needed.push_back(*text);
        }
      }
    } else if (s.type == kShtDynsym || s.type == kShtSymtab) {
      if (s.type == kShtSymtab) continue;  // only what the dynamic linker sees
      const RawSection* strings = string_table(s.link);
      if (strings == nullptr) return Bad("symbol table without a string table");
      if (!bytes.Has(s.offset, s.size)) return Bad("symbol table outside the file");
      const uint64_t entry = info.is_64bit ? 24 : 16;
      if (s.size / entry > kMaxSymbols) return Bad("too many symbols");
      for (uint64_t at = s.offset; at + entry <= s.offset + s.size; at += entry) {
        const uint32_t name = static_cast<uint32_t>(bytes.Read(at, 4));
        uint64_t value;
        uint16_t shndx;
        if (info.is_64bit) {
          shndx = static_cast<uint16_t>(bytes.Read(at + 6, 2));
          value = bytes.Read(at + 8, 8);
        } else {
          value = bytes.Read(at + 4, 4);
          shndx = static_cast<uint16_t>(bytes.Read(at + 14, 2));
        }
        if (shndx == 0 || name == 0) continue;  // undefined: the library uses it, not has it
        std::optional<std::string> text = string_at(*strings, name);
        if (!text || text->empty()) continue;
        info.symbols.emplace(*std::move(text), value);
      }
    }
  }
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
    return bytes.CString(offset, std::min<uint64_t>(max_length, section.offset + section.size - offset));
  }
  return std::nullopt;
}

}  // namespace pmi_shim::diagnose
