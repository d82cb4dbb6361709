#include "protocol/pmi/commands.h"

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace pmi_shim::wire {
namespace {

constexpr PmiVersion kPmi1 = PmiVersion::kPmi1;
constexpr PmiVersion kPmi2 = PmiVersion::kPmi2;

// {version, request, reply, needs_init, read_only}
constexpr CommandSpec kCommands[] = {
    {kPmi1, "initack", "initack", false, true},
    {kPmi1, "init", "response_to_init", false, true},
    {kPmi1, "get_maxes", "maxes", false, true},
    {kPmi1, "get_appnum", "appnum", true, true},
    {kPmi1, "get_universe_size", "universe_size", true, true},
    {kPmi1, "get_my_kvsname", "my_kvsname", true, true},
    {kPmi1, "put", "put_result", true, false},
    {kPmi1, "get", "get_result", true, false},
    {kPmi1, "barrier_in", "barrier_out", true, false},
    {kPmi1, "finalize", "finalize_ack", true, false},
    {kPmi1, "abort", nullptr, false, false},
    {kPmi1, "publish_name", "publish_result", true, false},
    {kPmi1, "unpublish_name", "unpublish_result", true, false},
    {kPmi1, "lookup_name", "lookup_result", true, false},
    {kPmi1, "spawn", "spawn_result", true, false},

    {kPmi2, "fullinit", "fullinit-response", false, true},
    {kPmi2, "job-getid", "job-getid-response", true, true},
    {kPmi2, "kvs-put", "kvs-put-response", true, false},
    {kPmi2, "kvs-get", "kvs-get-response", true, false},
    {kPmi2, "kvs-fence", "kvs-fence-response", true, false},
    {kPmi2, "info-getjobattr", "info-getjobattr-response", true, true},
    {kPmi2, "info-putnodeattr", "info-putnodeattr-response", true, false},
    {kPmi2, "info-getnodeattr", "info-getnodeattr-response", true, false},
    {kPmi2, "name-publish", "name-publish-response", true, false},
    {kPmi2, "name-unpublish", "name-unpublish-response", true, false},
    {kPmi2, "name-lookup", "name-lookup-response", true, false},
    {kPmi2, "spawn", "spawn-response", true, false},
    {kPmi2, "job-connect", "job-connect-response", true, false},
    {kPmi2, "job-disconnect", "job-disconnect-response", true, false},
    {kPmi2, "ring", "ring-response", true, false},
    {kPmi2, "abort", nullptr, false, false},
    {kPmi2, "finalize", "finalize-response", true, false},
};

// After a PMI_PORT client's initack the server pushes rank, size and debug
// as three `set` lines nobody asked for (reference/protocols.md §1.4).
constexpr absl::string_view kInitackFollowUp = "set";

}  // namespace

absl::Span<const CommandSpec> Commands() { return kCommands; }

const CommandSpec* FindCommand(PmiVersion version, absl::string_view request) {
  for (const CommandSpec& spec : kCommands) {
    if (spec.version == version && request == spec.request) return &spec;
  }
  return nullptr;
}

bool IsReadOnlyRequest(absl::string_view request) {
  for (const CommandSpec& spec : kCommands) {
    if (spec.read_only && request == spec.request) return true;
  }
  return false;
}

std::string ReplyCommandFor(PmiVersion version, absl::string_view request) {
  const CommandSpec* spec = FindCommand(version, request);
  if (spec != nullptr && spec->reply != nullptr) return spec->reply;
  return absl::StrCat(request, version == PmiVersion::kPmi2 ? "-response" : "_result");
}

bool IsReplyOnlyCommand(absl::string_view command) {
  if (absl::EndsWith(command, "-response") || absl::EndsWith(command, "_result") ||
      command == kInitackFollowUp) {
    return true;
  }
  bool is_reply = false;
  for (const CommandSpec& spec : kCommands) {
    if (command == spec.request) return false;
    if (spec.reply != nullptr && command == spec.reply) is_reply = true;
  }
  return is_reply;
}

}  // namespace pmi_shim::wire
