// The 16-byte header in front of every PMIx v1.2 usock message, both ways:
//
//   int32  pindex   the client's index on the server (-1 in the connect
//                   message; the server's own -1 in replies)
//   uint32 tag      the client picks it per request; the reply carries it
//   uint64 nbytes   payload length (a size_t)
//
// The client writes the C struct as it is in memory (pmix_usock_hdr_t),
// so the fields are in the machine's byte order, without padding on the
// 64-bit targets v1.2 supports. Both ends run on one machine; this codec
// uses little-endian, the order of x86-64 and aarch64 Linux. Pure.
#ifndef PMI_SHIM_PROTOCOL_PMIX_V1_HEADER_H_
#define PMI_SHIM_PROTOCOL_PMIX_V1_HEADER_H_

#include <cstddef>
#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace pmi_shim::protocol::pmix_v1 {

inline constexpr size_t kHeaderBytes = 16;

struct Header {
  int32_t pindex = -1;
  uint32_t tag = 0;
  uint64_t nbytes = 0;

  bool operator==(const Header& other) const {
    return pindex == other.pindex && tag == other.tag && nbytes == other.nbytes;
  }
};

std::string EncodeHeader(const Header& header);

// Reads the first kHeaderBytes of `bytes`. InvalidArgument if there are
// fewer; OutOfRange if nbytes exceeds `max_payload` (a length the reader
// would have to buffer before it could judge the message).
absl::StatusOr<Header> DecodeHeader(absl::string_view bytes, uint64_t max_payload);

// Header + payload: one message.
std::string EncodeMessage(int32_t pindex, uint32_t tag, absl::string_view payload);

// Host-order (little-endian) integers, as the connect exchange sends them.
void AppendLittleEndian32(std::string& out, uint32_t value);
void AppendLittleEndian64(std::string& out, uint64_t value);
uint32_t ReadLittleEndian32(const char* bytes);
uint64_t ReadLittleEndian64(const char* bytes);

}  // namespace pmi_shim::protocol::pmix_v1

#endif  // PMI_SHIM_PROTOCOL_PMIX_V1_HEADER_H_
