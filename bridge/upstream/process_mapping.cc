#include "bridge/upstream/process_mapping.h"

#include "absl/strings/str_cat.h"

namespace pmi_shim::upstream {

std::string FormatProcessMapping(const std::vector<MappingBlock>& blocks) {
  std::string value = "(vector";
  for (const MappingBlock& block : blocks) {
    absl::StrAppend(&value, ",(", block.first_node, ",", block.node_count, ",",
                    block.ranks_per_node, ")");
  }
  value += ")";
  return value;
}

std::string SingleNodeMapping(int size) {
  return FormatProcessMapping({MappingBlock{0, 1, size}});
}

}  // namespace pmi_shim::upstream
