// PMIx server URIs: reading them and pointing them elsewhere. Pure logic.
//
// A PMIx server publishes its contact in one variable per protocol level,
// PMIX_SERVER_URI2, URI21, URI3, URI4, URI41, ... (reference/protocols.md
// §4.2), all with the same value "<nspace>.<rank>;tcp4://<ip>:<port>" (or
// tcp6://[<ip>]:<port>). A relay that stands between client and server
// rewrites the address of every one of them, so whichever the client's
// PMIx version picks leads to the relay; the server's nspace.rank part is
// kept, since the client records it as the server's identity.
#ifndef PMI_SHIM_PROTOCOL_PMIX_PMIX_URI_H_
#define PMI_SHIM_PROTOCOL_PMIX_PMIX_URI_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace pmi_shim::pmix {

struct PmixUri {
  std::string server_id;  // "nspace.rank" before the ';'
  std::string scheme;     // "tcp4" or "tcp6"
  std::string host;       // "127.0.0.1", or "::1" without brackets
  int port = 0;

  std::string ToString() const;
};

// Parses "<id>;tcp4://<ip>:<port>" or "<id>;tcp6://[<ip>]:<port>".
absl::StatusOr<PmixUri> ParsePmixUri(absl::string_view value);

// Whether `name` is one of the PMIX_SERVER_URI* variables.
bool IsPmixServerUriVariable(absl::string_view name);

struct RewrittenEnvironment {
  std::vector<std::string> environment;  // every entry, URIs rewritten
  PmixUri original;                      // where the server really is
};

// Points every PMIX_SERVER_URI* entry of `environment` ("NAME=value") at
// `host`:`port`. Errors: NotFound without any such variable; InvalidArgument
// when they are unparsable or disagree about the server's address.
absl::StatusOr<RewrittenEnvironment> RewritePmixServerUris(
    const std::vector<std::string>& environment, const std::string& host, int port);

}  // namespace pmi_shim::pmix

#endif  // PMI_SHIM_PROTOCOL_PMIX_PMIX_URI_H_
