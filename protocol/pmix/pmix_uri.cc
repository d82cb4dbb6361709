#include "protocol/pmix/pmix_uri.h"

#include <optional>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"

namespace pmi_shim::pmix {

std::string PmixUri::ToString() const {
  const std::string address = scheme == "tcp6" ? absl::StrCat("[", host, "]") : host;
  return absl::StrCat(server_id, ";", scheme, "://", address, ":", port);
}

absl::StatusOr<PmixUri> ParsePmixUri(absl::string_view value) {
  auto bad = [&](absl::string_view why) {
    return absl::InvalidArgumentError(absl::StrCat(
        "PMIx server URI \"", value, "\" ", why, "; expected <nspace>.<rank>;tcp4://<ip>:<port>"));
  };
  const size_t semicolon = value.find(';');
  if (semicolon == absl::string_view::npos || value.find(';', semicolon + 1) != value.npos) {
    return bad("must have exactly one ';'");
  }
  PmixUri uri;
  uri.server_id = std::string(value.substr(0, semicolon));
  absl::string_view rest = value.substr(semicolon + 1);
  const size_t scheme_end = rest.find("://");
  if (scheme_end == rest.npos) return bad("has no scheme");
  uri.scheme = std::string(rest.substr(0, scheme_end));
  if (uri.scheme != "tcp4" && uri.scheme != "tcp6") return bad("is not tcp4:// or tcp6://");
  rest.remove_prefix(scheme_end + 3);
  const size_t colon = rest.rfind(':');
  if (colon == rest.npos || !absl::SimpleAtoi(rest.substr(colon + 1), &uri.port) || uri.port <= 0 ||
      uri.port > 65535) {
    return bad("has no valid port");
  }
  absl::string_view host = rest.substr(0, colon);
  if (uri.scheme == "tcp6") {
    if (!absl::ConsumePrefix(&host, "[") || !absl::ConsumeSuffix(&host, "]")) {
      return bad("has a tcp6 address without [brackets]");
    }
  }
  if (host.empty()) return bad("has no address");
  uri.host = std::string(host);
  return uri;
}

bool IsPmixServerUriVariable(absl::string_view name) {
  return absl::StartsWith(name, "PMIX_SERVER_URI");
}

absl::StatusOr<RewrittenEnvironment> RewritePmixServerUris(
    const std::vector<std::string>& environment, const std::string& host, int port) {
  RewrittenEnvironment result;
  std::optional<PmixUri> first;
  for (const std::string& entry : environment) {
    const size_t equals = entry.find('=');
    const absl::string_view name = absl::string_view(entry).substr(0, equals);
    if (equals == entry.npos || !IsPmixServerUriVariable(name)) {
      result.environment.push_back(entry);
      continue;
    }
    absl::StatusOr<PmixUri> uri = ParsePmixUri(absl::string_view(entry).substr(equals + 1));
    if (!uri.ok()) return uri.status();
    if (first.has_value() && (uri->host != first->host || uri->port != first->port)) {
      return absl::InvalidArgumentError(absl::StrCat(
          name, " points at ", uri->host, ":", uri->port, " but another PMIX_SERVER_URI at ",
          first->host, ":", first->port, "; the environment mixes two PMIx servers"));
    }
    if (!first.has_value()) first = *uri;
    PmixUri relayed = *uri;
    relayed.scheme = "tcp4";
    relayed.host = host;
    relayed.port = port;
    result.environment.push_back(absl::StrCat(name, "=", relayed.ToString()));
  }
  if (!first.has_value()) {
    return absl::NotFoundError("no PMIX_SERVER_URI* in the environment; is this a PMIx job?");
  }
  result.original = *first;
  return result;
}

}  // namespace pmi_shim::pmix
