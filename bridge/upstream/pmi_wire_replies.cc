#include "bridge/upstream/pmi_wire_replies.h"

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "protocol/pmi/commands.h"

namespace pmi_shim::upstream::pmi_wire_internal {

// rc is optional (RFC 13); hydra 4.0.2 leaves it out of most replies.
int64_t ReplyRc(const wire::Message& reply) {
  if (!reply.Has("rc")) return 0;
  return reply.FindInt("rc").value_or(-1);
}

std::optional<std::string> FoundValue(const wire::Message& reply) {
  std::optional<absl::string_view> found = reply.Find("found");
  std::optional<absl::string_view> value = reply.Find("value");
  if (ReplyRc(reply) != 0 || !value.has_value() ||
      (found.has_value() && !absl::EqualsIgnoreCase(*found, "TRUE"))) {
    return std::nullopt;
  }
  return std::string(*value);
}

absl::Status RcStatus(const wire::Message& reply, absl::string_view what) {
  if (ReplyRc(reply) == 0) return absl::OkStatus();
  return absl::FailedPreconditionError(
      absl::StrCat("host PMI server refused ", what, " (", Excerpt(reply), ")"));
}

std::string ReplyCommandFor(WireProtocol protocol, absl::string_view request) {
  return wire::ReplyCommandFor(
      protocol == WireProtocol::kPmi2 ? wire::PmiVersion::kPmi2 : wire::PmiVersion::kPmi1, request);
}

}  // namespace pmi_shim::upstream::pmi_wire_internal
