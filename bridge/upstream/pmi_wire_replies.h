// How PmiWireHost reads the host PMI server's replies, shared by the
// synchronous handshake (pmi_wire_handshake.h) and the running host
// (pmi_wire_host.h). Replies come in every dialect seen in the field: `rc`
// anywhere or absent (hydra 4.0.2 omits it from most replies), a trailing
// `found=TRUE`, and not-found as rc 1/4/-1 or `found=FALSE`.
//
// Internal to PmiWireHost; nothing here is an API for other callers.
#ifndef PMI_SHIM_BRIDGE_UPSTREAM_PMI_WIRE_REPLIES_H_
#define PMI_SHIM_BRIDGE_UPSTREAM_PMI_WIRE_REPLIES_H_

#include <cstdint>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "bridge/upstream/host_endpoint.h"
#include "protocol/pmi/call_channel.h"
#include "protocol/pmi/message.h"

namespace pmi_shim::upstream::pmi_wire_internal {

// The reply's rc: 0 when absent, -1 when not a number.
int64_t ReplyRc(const wire::Message& reply);

// The `value` of a get-style reply, or nullopt when the host says the key
// was not found (a non-zero rc, no value, or `found` other than TRUE).
std::optional<std::string> FoundValue(const wire::Message& reply);

// `message` for an error line: one line, at most 160 characters and "...".
using wire::Excerpt;

// OK for rc 0; otherwise FailedPrecondition "host PMI server refused
// `what` (reply)".
absl::Status RcStatus(const wire::Message& reply, absl::string_view what);

// The command that answers `request` in `protocol` (protocol/pmi/commands.h):
// "kvs-put-response", "put_result", "barrier_out", ...
std::string ReplyCommandFor(WireProtocol protocol, absl::string_view request);

}  // namespace pmi_shim::upstream::pmi_wire_internal

#endif  // PMI_SHIM_BRIDGE_UPSTREAM_PMI_WIRE_REPLIES_H_
