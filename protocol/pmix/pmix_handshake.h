// The first message a PMIx (v2.1+) client sends over TCP: its security
// module and credential, then who it is (reference/protocols.md §4.4).
// Pure byte logic, used by relays that must present the connecting
// process's host identity to the server.
//
// Why: PMIx `native` security over TCP cannot ask the kernel who connected,
// so the client writes geteuid()/getegid() into the message and the server
// compares them with the uid/gid it registered. A client in a user namespace
// writes its namespace's ids (e.g. 0) and is refused. A relay that accepted
// it on a Unix socket knows, from SO_PEERCRED, the ids the kernel gives that
// process on the host, and writes those instead.
#ifndef PMI_SHIM_PROTOCOL_PMIX_PMIX_HANDSHAKE_H_
#define PMI_SHIM_PROTOCOL_PMIX_PMIX_HANDSHAKE_H_

#include <cstdint>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace pmi_shim::pmix {

// The length of the connect message at the start of `stream` (16-byte
// header included), or nullopt while the header is incomplete. Errors when
// the header is not a connect message's.
absl::StatusOr<std::optional<size_t>> PmixConnectMessageLength(absl::string_view stream);

// `message` (complete, see above) with the identity it claims replaced by
// uid/gid: the 8-byte `native` credential (host byte order) and, for tools
// and singletons, the euid/egid fields after the type flag. Messages of
// other security modules are returned unchanged.
absl::StatusOr<std::string> RewritePmixConnectIdentity(absl::string_view message, uint32_t uid,
                                                       uint32_t gid);

}  // namespace pmi_shim::pmix

#endif  // PMI_SHIM_PROTOCOL_PMIX_PMIX_HANDSHAKE_H_
