#include "protocol/pmix/pmix_handshake.h"

#include <arpa/inet.h>

#include <cstring>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace pmi_shim::pmix {
namespace {

constexpr size_t kHeaderSize = 16;
constexpr uint32_t kMaxConnectPayload = 128 * 1024;  // PMIX_MAX_CRED_SIZE

uint32_t HostOrder(absl::string_view bytes, size_t at) {
  uint32_t value;
  std::memcpy(&value, bytes.data() + at, sizeof(value));
  return value;
}

void PutHostOrder(std::string& bytes, size_t at, uint32_t value) {
  std::memcpy(&bytes[at], &value, sizeof(value));
}

void PutNetworkOrder(std::string& bytes, size_t at, uint32_t value) {
  PutHostOrder(bytes, at, htonl(value));
}

// Finds the NUL that ends the string at `at`; npos when there is none.
size_t EndOfString(absl::string_view bytes, size_t at) {
  return at < bytes.size() ? bytes.find('\0', at) : absl::string_view::npos;
}

absl::Status Truncated(absl::string_view what) {
  return absl::InvalidArgumentError(absl::StrCat("PMIx connect message ends inside its ", what));
}

}  // namespace

absl::StatusOr<std::optional<size_t>> PmixConnectMessageLength(absl::string_view stream) {
  if (stream.size() < kHeaderSize) return std::optional<size_t>();
  const int32_t pindex = static_cast<int32_t>(HostOrder(stream, 0));
  const uint32_t tag = HostOrder(stream, 4);
  const uint32_t payload = HostOrder(stream, 8);
  if (pindex != -1 || tag != 0xFFFFFFFFu) {
    return absl::InvalidArgumentError(
        "the first message is not a PMIx connect request (a v1.x client, or not PMIx?)");
  }
  if (payload > kMaxConnectPayload) {
    return absl::InvalidArgumentError(
        absl::StrCat("PMIx connect message claims ", payload, " bytes, over the 128 KiB limit"));
  }
  return std::optional<size_t>(kHeaderSize + payload);
}

absl::StatusOr<std::string> RewritePmixConnectIdentity(absl::string_view message, uint32_t uid,
                                                       uint32_t gid) {
  std::string out(message);
  size_t at = kHeaderSize;
  const size_t module_end = EndOfString(out, at);
  if (module_end == std::string::npos) return Truncated("security module name");
  const std::string module = out.substr(at, module_end - at);
  at = module_end + 1;
  if (at + 4 > out.size()) return Truncated("credential length");
  const uint32_t credential_length = ntohl(HostOrder(out, at));
  at += 4;
  if (at + credential_length + 1 > out.size()) return Truncated("credential");
  if (module != "native") return out;  // munge or none: nothing of ours to vouch for
  if (credential_length == 8) {
    PutHostOrder(out, at, uid);
    PutHostOrder(out, at + 4, gid);
  }
  at += credential_length;
  const uint8_t flag = static_cast<uint8_t>(out[at]);
  at += 1;
  // Tools, launchers and singletons name their effective ids again.
  const bool names_ids = flag >= 3 && flag <= 10;
  if (names_ids) {
    if (at + 8 > out.size()) return Truncated("effective ids");
    PutNetworkOrder(out, at, uid);
    PutNetworkOrder(out, at + 4, gid);
  }
  return out;
}

}  // namespace pmi_shim::pmix
