// The PMI-1 and PMI-2 command vocabulary, in one table that every speaker
// reads: the bridge's server sessions (which requests exist, which need init
// first, which only read the job), its wire client to the host (which reply
// answers a request) and the transcript (which messages are requests).
//
//   const wire::CommandSpec* spec = wire::FindCommand(wire::PmiVersion::kPmi1, "get");
//   spec->reply;        // "get_result"
//   spec->needs_init;   // true: before init a server answers rc=kErrInit
//
// PMI-1 reply names are irregular (reference/protocols.md §1.5); PMI-2's are
// "<request>-response" (§2.4). A PMI-2 client's first line is the PMI-1
// `init` (pmi_version=2), so `init` is in the PMI-1 table only.
#ifndef PMI_SHIM_PROTOCOL_PMI_COMMANDS_H_
#define PMI_SHIM_PROTOCOL_PMI_COMMANDS_H_

#include <string>

#include "absl/strings/string_view.h"
#include "absl/types/span.h"

namespace pmi_shim::wire {

enum class PmiVersion { kPmi1, kPmi2 };

// Result codes sent in `rc` (reference/protocols.md §1.8; PMI-2 servers use
// the same numbers).
namespace rc {
inline constexpr int kSuccess = 0;
inline constexpr int kFail = -1;
inline constexpr int kErrInit = 1;
inline constexpr int kErrInvalidKey = 4;
inline constexpr int kErrInvalidKeyLength = 5;
inline constexpr int kErrInvalidValLength = 7;
}  // namespace rc

struct CommandSpec {
  PmiVersion version;
  const char* request;
  const char* reply;  // nullptr when the server sends none (abort)
  bool needs_init;    // only valid after the client's init (PMI-2: fullinit)
  bool read_only;     // reads what the job is, changes nothing in it
};

// Every request either version knows, PMI-1 first, in start-up order.
absl::Span<const CommandSpec> Commands();

// The entry for `request` in `version`, or nullptr for an unknown command.
const CommandSpec* FindCommand(PmiVersion version, absl::string_view request);

// Whether `request` only reads the job in either version. A client that sent
// nothing else was a probe (pmi-shim-client check), not a rank that is lost
// when it goes.
bool IsReadOnlyRequest(absl::string_view request);

// The command that answers `request` in `version`: the table's reply, else
// by each version's convention "<request>_result" / "<request>-response".
std::string ReplyCommandFor(PmiVersion version, absl::string_view request);

// Whether only a server sends `command`: a reply of either version that is
// not also a request (PMI-1's `initack` is both), or a `set` line that
// follows initack. Names ending in "_result" or "-response" count as replies.
bool IsReplyOnlyCommand(absl::string_view command);

}  // namespace pmi_shim::wire

#endif  // PMI_SHIM_PROTOCOL_PMI_COMMANDS_H_
