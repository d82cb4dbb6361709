// A compact encoding of key/value lists for what bridges exchange among
// themselves (a rank's fence contribution travels through the host's KVS,
// where every byte costs: base64, then segments of under 1 KiB, each one
// put and got). The v1.2 KVAL encoding spends 4-byte counts and 8-byte type
// descriptors on every value; here a value of the common kinds is a type
// byte and a varint or length-prefixed bytes, about 40% less for string
// business cards. Values of other kinds keep their packed VALUE form.
//
//   entry   = key NUL, kind byte, payload
//   kind    = the DataType code; payload by type:
//             BOOL, BYTE, INT8, UINT8              1 byte
//             INT, INT16, INT32, INT64             zigzag varint
//             UINT, UINT16/32/64, SIZE, PID, TIME  varint
//             STRING, FLOAT, DOUBLE, BYTE_OBJECT   varint length, bytes
//   kind 255: varint length, one pack(VALUE) (info arrays, timevals)
//
// Decoding refuses (DataLoss) anything truncated, overlong or unknown.
// Pure.
#ifndef PMI_SHIM_PROTOCOL_PMIX_V1_COMPACT_VALUES_H_
#define PMI_SHIM_PROTOCOL_PMIX_V1_COMPACT_VALUES_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "protocol/pmix_v1/buffer.h"

namespace pmi_shim::protocol::pmix_v1 {

std::string EncodeCompact(const std::vector<KeyValue>& kvals);
absl::StatusOr<std::vector<KeyValue>> DecodeCompact(absl::string_view bytes);

}  // namespace pmi_shim::protocol::pmix_v1

#endif  // PMI_SHIM_PROTOCOL_PMIX_V1_COMPACT_VALUES_H_
