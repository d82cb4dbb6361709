#include "bridge/upstream/process_mapping.h"

#include <cstdint>
#include <optional>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/status_macros.h"

namespace pmi_shim::upstream {
namespace {

// Reads a mapping the way MPL_rankmap_str_to_array does, into the node id
// of each of the first `size` ranks. `extended` tells whether Hydra 4.1's
// bare ids or repeat groups occur.
class MappingReader {
 public:
  MappingReader(absl::string_view text, int size) : text_(text), size_(size) {}

  absl::StatusOr<std::vector<int>> Read(bool& extended);

 private:
  void SkipSpace() {
    while (pos_ < text_.size() && absl::ascii_isspace(static_cast<unsigned char>(text_[pos_]))) {
      ++pos_;
    }
  }
  bool Consume(char c) {
    SkipSpace();
    if (pos_ >= text_.size() || text_[pos_] != c) return false;
    ++pos_;
    return true;
  }
  std::optional<int> Number();
  std::optional<MappingBlock> ReadBlock();
  bool ReadGroup();  // "[block,...]xN"
  void Emit(const MappingBlock& block);
  absl::Status Error(absl::string_view what) const {
    return absl::InvalidArgumentError(
        absl::StrCat("PMI_process_mapping \"", text_, "\": ", what, " at byte ", pos_));
  }

  absl::string_view text_;
  int size_;
  size_t pos_ = 0;
  bool extended_ = false;
  std::vector<int> nodes_;            // node id per rank, as far as the text goes
  std::optional<size_t> wrap_start_;  // where MPICH restarts a short map
};

std::optional<int> MappingReader::Number() {
  SkipSpace();
  int64_t value = 0;
  const size_t begin = pos_;
  while (pos_ < text_.size() && absl::ascii_isdigit(static_cast<unsigned char>(text_[pos_]))) {
    value = value * 10 + (text_[pos_++] - '0');
    if (value > 1000000000) return std::nullopt;
  }
  if (pos_ == begin) return std::nullopt;
  return static_cast<int>(value);
}

void MappingReader::Emit(const MappingBlock& block) {
  // MPICH restarts a map that names too few ranks at its first block on
  // node 0 (or its first repeat group).
  if (!wrap_start_.has_value() && block.first_node == 0) wrap_start_ = nodes_.size();
  if (block.ranks_per_node == 0) return;  // places nobody (and must not spin on a huge node count)
  for (int n = 0; n < block.node_count; ++n) {
    for (int p = 0; p < block.ranks_per_node; ++p) {
      if (static_cast<int>(nodes_.size()) >= size_) return;
      nodes_.push_back(block.first_node + n);
    }
  }
}

std::optional<MappingBlock> MappingReader::ReadBlock() {
  if (!Consume('(')) {
    std::optional<int> node = Number();  // bare id: one rank on that node
    if (!node.has_value()) return std::nullopt;
    extended_ = true;
    return MappingBlock{*node, 1, 1};
  }
  std::optional<int> node = Number();
  if (!node.has_value() || !Consume(',')) return std::nullopt;
  std::optional<int> nodes = Number();
  if (!nodes.has_value() || !Consume(',')) return std::nullopt;
  std::optional<int> ppn = Number();
  if (!ppn.has_value() || !Consume(')')) return std::nullopt;
  return MappingBlock{*node, *nodes, *ppn};
}

bool MappingReader::ReadGroup() {
  extended_ = true;
  std::vector<MappingBlock> blocks;
  do {
    std::optional<MappingBlock> block = ReadBlock();
    if (!block.has_value()) return false;
    blocks.push_back(*block);
  } while (Consume(','));
  if (!Consume(']') || !Consume('x')) return false;
  std::optional<int> count = Number();
  if (!count.has_value()) return false;
  if (!wrap_start_.has_value()) wrap_start_ = nodes_.size();
  for (int i = 0; i < *count && static_cast<int>(nodes_.size()) < size_; ++i) {
    const size_t before = nodes_.size();
    for (const MappingBlock& block : blocks) Emit(block);
    if (nodes_.size() == before) break;  // an empty group repeated a billion times
  }
  return true;
}

absl::StatusOr<std::vector<int>> MappingReader::Read(bool& extended) {
  if (!Consume('(')) return Error("no opening '('");
  SkipSpace();
  if (!absl::StartsWith(text_.substr(pos_), "vector")) return Error("not a vector mapping");
  pos_ += 6;
  while (!Consume(')')) {
    if (!Consume(',')) return Error("expected ',' or ')'");
    if (Consume('[')) {
      if (!ReadGroup()) return Error("malformed repeat group");
      continue;
    }
    std::optional<MappingBlock> block = ReadBlock();
    if (!block.has_value()) return Error("malformed block");
    Emit(*block);
  }
  if (nodes_.empty()) return Error("no rank is placed");
  // A short map repeats from its wrap point (MPICH's "legacy format").
  const size_t named = nodes_.size();
  if (static_cast<int>(named) < size_ && (!wrap_start_.has_value() || *wrap_start_ >= named)) {
    return Error(absl::StrCat("places ", named, " of ", size_, " ranks and cannot repeat"));
  }
  for (size_t i = 0; static_cast<int>(nodes_.size()) < size_; ++i) {
    const int node = nodes_[*wrap_start_ + i % (named - *wrap_start_)];
    nodes_.push_back(node);
  }
  extended = extended_;
  return std::move(nodes_);
}

// The shortest p such that nodes[i] == nodes[i - p] for every i >= p
// (through the KMP failure function, so linear in the number of ranks).
size_t ShortestPeriod(const std::vector<int>& nodes) {
  std::vector<size_t> border(nodes.size(), 0);
  for (size_t i = 1, k = 0; i < nodes.size(); ++i) {
    while (k > 0 && nodes[i] != nodes[k]) k = border[k - 1];
    if (nodes[i] == nodes[k]) ++k;
    border[i] = k;
  }
  return nodes.size() - border.back();
}

}  // namespace

std::string FormatProcessMapping(const std::vector<MappingBlock>& blocks) {
  std::string value = "(vector";
  for (const MappingBlock& block : blocks) {
    absl::StrAppend(&value, ",(", block.first_node, ",", block.node_count, ",",
                    block.ranks_per_node, ")");
  }
  value += ")";
  return value;
}

std::string SingleNodeMapping(int size) { return FormatProcessMapping({MappingBlock{0, 1, size}}); }

std::vector<MappingBlock> PlainBlocks(absl::Span<const int> node_of_rank) {
  std::vector<MappingBlock> blocks;
  for (size_t i = 0; i < node_of_rank.size();) {
    size_t end = i;
    while (end < node_of_rank.size() && node_of_rank[end] == node_of_rank[i]) ++end;
    const int ppn = static_cast<int>(end - i);
    MappingBlock* last = blocks.empty() ? nullptr : &blocks.back();
    if (last != nullptr && last->ranks_per_node == ppn &&
        last->first_node + last->node_count == node_of_rank[i]) {
      ++last->node_count;
    } else {
      blocks.push_back(MappingBlock{node_of_rank[i], 1, ppn});
    }
    i = end;
  }
  return blocks;
}

absl::StatusOr<std::string> PlainProcessMapping(absl::string_view mapping, int size,
                                                size_t max_length) {
  if (size < 1) return absl::InvalidArgumentError("job size must be positive");
  bool extended = false;
  ASSIGN_OR_RETURN(std::vector<int> nodes, MappingReader(mapping, size).Read(extended));
  std::string plain = extended ? FormatProcessMapping(PlainBlocks(nodes)) : std::string(mapping);
  if (extended && plain.size() > max_length && nodes[0] == 0) {
    // Every reader repeats a map that names fewer ranks than the job has,
    // from its start when that is on node 0; so one period is enough.
    plain =
        FormatProcessMapping(PlainBlocks(absl::MakeConstSpan(nodes.data(), ShortestPeriod(nodes))));
  }
  if (plain.size() > max_length) {
    return absl::OutOfRangeError(absl::StrCat("PMI_process_mapping needs ", plain.size(),
                                              " bytes as plain 3-tuples, more than ", max_length));
  }
  return plain;
}

absl::StatusOr<std::vector<int>> NodeOfRank(absl::string_view mapping, int size) {
  if (size < 1) return absl::InvalidArgumentError("job size must be positive");
  bool extended = false;
  return MappingReader(mapping, size).Read(extended);
}

}  // namespace pmi_shim::upstream
