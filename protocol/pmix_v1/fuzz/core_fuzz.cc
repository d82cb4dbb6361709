// Fuzz target for the per-connection core: a valid connect for rank 2 of
// "fuzz-ns", then the input fed in chunks whose sizes the input's first
// byte picks. Invariants: nothing crashes; once Feed fails the core is
// closed; every queued reply is a well-formed message with a status the
// v1.2 client can read.
#include <cstddef>
#include <cstdint>
#include <vector>

#include "absl/strings/string_view.h"
#include "protocol/pmix_v1/connection_core.h"
#include "tools/build/fuzz_check.h"

namespace v1 = pmi_shim::protocol::pmix_v1;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  v1::ConnectionCore::Options options;
  options.nspace = "fuzz-ns";
  options.rank = 2;
  options.max_message_bytes = 1 << 16;
  v1::ConnectionCore core(options);
  v1::ConnectRequest connect;
  connect.nspace = "fuzz-ns";
  connect.rank = 2;
  connect.version = "1.2.5rc3";
  std::vector<v1::Event> events;
  FUZZ_CHECK(core.Feed(v1::EncodeConnectRequest(connect), events).ok());
  FUZZ_CHECK(events.size() == 1 && events[0].kind == v1::Event::Kind::kHandshake);
  core.AcceptHandshake();
  (void)core.TakeOutput();
  const size_t chunk = 1 + data[0] % 64;
  absl::string_view rest(reinterpret_cast<const char*>(data) + 1, size - 1);
  while (!rest.empty()) {
    events.clear();
    absl::Status fed = core.Feed(rest.substr(0, chunk), events);
    rest.remove_prefix(std::min(chunk, rest.size()));
    for (const v1::Event& event : events) {
      FUZZ_CHECK(event.kind != v1::Event::Kind::kHandshake);
      if (event.kind == v1::Event::Kind::kRequest) core.Reply(event.tag, v1::EncodeStatusReply(0));
    }
    std::string out = core.TakeOutput();
    while (!out.empty()) {
      absl::StatusOr<v1::Header> header = v1::DecodeHeader(out, 1 << 20);
      FUZZ_CHECK(header.ok() && out.size() >= v1::kHeaderBytes + header->nbytes);
      FUZZ_CHECK(v1::DecodeStatusReply(out.substr(v1::kHeaderBytes, header->nbytes)).ok());
      out.erase(0, v1::kHeaderBytes + header->nbytes);
    }
    if (!fed.ok()) {
      FUZZ_CHECK(core.state() == v1::ConnectionCore::State::kClosed);
      break;
    }
  }
  return 0;
}
