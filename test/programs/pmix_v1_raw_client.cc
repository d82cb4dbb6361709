// A scripted PMIx v1.2 wire client for bad-input tests, speaking through
// protocol/pmix_v1 to the server named by PMIX_SERVER_URI as rank
// PMIX_RANK of PMIX_NAMESPACE (what `pmi-bridge exec --downstream pmix1`
// hands it):
//
//   pmix_v1_raw_client MODE BAD_RANK
//
// Every rank connects, asks for its job data and enters a collecting fence,
// then finalizes; rank BAD_RANK first misbehaves as MODE says:
//   oversize       sends a header announcing 2^40 bytes
//   bad-header     sends a message with another client index
//   unknown        sends command 99, expects an error status, then goes on
//   other-rank     connects claiming another rank (expects a refusal)
//   leave-in-fence sends its fence and exits 3 without waiting
// Prints one line per outcome ("rank R: ..."); exits 0 when the run went as
// a well-behaved client would see it, else 1 (or 3 for leave-in-fence).
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "protocol/pmix_v1/header.h"
#include "protocol/pmix_v1/messages.h"

namespace v1 = pmi_shim::protocol::pmix_v1;

namespace {

int fd = -1;
int rank = 0;

bool SendAll(const std::string& bytes) {
  size_t off = 0;
  while (off < bytes.size()) {
    const ssize_t n = ::send(fd, bytes.data() + off, bytes.size() - off, MSG_NOSIGNAL);
    if (n <= 0) return false;
    off += static_cast<size_t>(n);
  }
  return true;
}

bool RecvAll(char* out, size_t size) {
  size_t off = 0;
  while (off < size) {
    const ssize_t n = ::recv(fd, out + off, size - off, 0);
    if (n <= 0) return false;
    off += static_cast<size_t>(n);
  }
  return true;
}

// The payload of the next message, or "" with ok=false on EOF.
std::string Receive(bool& ok) {
  char header[v1::kHeaderBytes];
  ok = RecvAll(header, sizeof(header));
  if (!ok) return "";
  absl::StatusOr<v1::Header> h =
      v1::DecodeHeader(absl::string_view(header, sizeof(header)), 1 << 24);
  if (!h.ok()) {
    ok = false;
    return "";
  }
  std::string payload(h->nbytes, '\0');
  ok = RecvAll(payload.data(), payload.size());
  return payload;
}

int Fail(const char* what) {
  std::printf("rank %d: FAIL %s\n", rank, what);
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  std::setvbuf(stdout, nullptr, _IOLBF, 0);
  if (argc != 3) return Fail("usage: pmix_v1_raw_client MODE BAD_RANK");
  const std::string mode = argv[1];
  const int bad_rank = std::atoi(argv[2]);
  const char* uri = std::getenv("PMIX_SERVER_URI");
  const char* nspace = std::getenv("PMIX_NAMESPACE");
  const char* rank_text = std::getenv("PMIX_RANK");
  if (uri == nullptr || nspace == nullptr || rank_text == nullptr ||
      !absl::SimpleAtoi(rank_text, &rank)) {
    return Fail("no PMIX_SERVER_URI, PMIX_NAMESPACE or PMIX_RANK");
  }
  std::vector<std::string> parts = absl::StrSplit(uri, ':');
  if (parts.size() != 3) return Fail("PMIX_SERVER_URI is not nspace:rank:path");
  fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
  sockaddr_un addr = {};
  addr.sun_family = AF_UNIX;
  std::snprintf(addr.sun_path, sizeof(addr.sun_path), "%s", parts[2].c_str());
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    return Fail("connect");
  }
  const bool bad = rank == bad_rank;
  v1::ConnectRequest connect;
  connect.nspace = nspace;
  connect.rank = bad && mode == "other-rank" ? rank + 1 : rank;
  connect.version = "1.2.5rc3";
  connect.security = "native";
  connect.bfrops = "v12";
  connect.buffer_type = 1;
  connect.gds = "hash";
  if (!SendAll(v1::EncodeConnectRequest(connect))) return Fail("send connect");
  char status[4];
  if (!RecvAll(status, 4)) return Fail("no connect reply");
  const auto connect_status = static_cast<int32_t>(v1::ReadLittleEndian32(status));
  if (bad && mode == "other-rank") {
    std::printf("rank %d: claiming rank %d was refused with status %d\n", rank, rank + 1,
                connect_status);
    return connect_status == v1::kErrInvalidNamespace ? 2 : 1;
  }
  if (connect_status != v1::kSuccess || !RecvAll(status, 4)) return Fail("connect refused");
  uint32_t tag = 1;
  bool ok = true;
  if (bad && mode == "oversize") {
    SendAll(v1::EncodeHeader(v1::Header{0, tag++, 1ull << 40}));
    Receive(ok);
    std::printf("rank %d: after the oversized header the server %s\n", rank,
                ok ? "answered" : "closed the connection");
    return ok ? 1 : 2;
  }
  if (bad && mode == "bad-header") {
    SendAll(v1::EncodeMessage(7, tag++, v1::EncodeSimpleCommand(v1::Command::kFinalize)));
    Receive(ok);
    std::printf("rank %d: after the malformed header the server %s\n", rank,
                ok ? "answered" : "closed the connection");
    return ok ? 1 : 2;
  }
  if (bad && mode == "unknown") {
    v1::Packer unknown;
    unknown.PackUint32(99);
    SendAll(v1::EncodeMessage(0, tag++, unknown.bytes()));
    const std::string reply = Receive(ok);
    absl::StatusOr<int32_t> rc = v1::DecodeStatusReply(reply);
    std::printf("rank %d: command 99 answered with status %d\n", rank, rc.ok() ? *rc : 0);
    if (!ok || !rc.ok() || *rc != v1::kErrNotSupported) return Fail("unknown command reply");
  }
  SendAll(v1::EncodeMessage(0, tag++, v1::EncodeSimpleCommand(v1::Command::kRequestJobInfo)));
  Receive(ok);
  if (!ok) return Fail("job data");
  v1::FenceRequest fence;
  fence.procs = {{nspace, v1::kRankWildcard}};
  fence.collect = true;
  SendAll(v1::EncodeMessage(0, tag++, v1::EncodeFence(fence)));
  if (bad && mode == "leave-in-fence") {
    std::printf("rank %d: leaving in the fence\n", rank);
    return 3;
  }
  const std::string fenced = Receive(ok);
  if (!ok || v1::DecodeStatusReply(fenced).value_or(-1) != v1::kSuccess) return Fail("fence");
  SendAll(v1::EncodeMessage(0, tag++, v1::EncodeSimpleCommand(v1::Command::kFinalize)));
  Receive(ok);
  if (!ok) return Fail("finalize");
  std::printf("rank %d: finalized\n", rank);
  ::close(fd);
  return 0;
}
