// The PMIx v1.2 buffer encoding ("bfrops" v12, non-described buffers, the
// kind every release build uses): typed values packed into a byte string.
//
// pmix_bfrop.pack(buffer, src, n, TYPE) writes
//   int32 n                      (big-endian, as every packed integer)
//   n elements of TYPE
// and an element is:
//   BOOL, BYTE, INT8, UINT8     1 byte
//   INT16, UINT16               2 bytes
//   INT32, UINT32 (and CMD)     4 bytes
//   INT64, UINT64, TIME         8 bytes
//   INT, UINT, SIZE, PID        int32 type code of the machine type (INT32,
//                               UINT64, UINT32), then the value: "system
//                               types" are always self-described
//   STRING                      int32 length including the NUL (0: NULL),
//                               then the bytes and the NUL
//   FLOAT, DOUBLE               the value printed with "%f", as a STRING
//   TIMEVAL                     two INT64 (seconds, microseconds)
//   BUFFER, BYTE_OBJECT         SIZE length, then the bytes
//   VALUE                       INT type, then the element of that type
//   INFO                        STRING key, INT type, element
//   INFO_ARRAY                  SIZE count, then that many INFO
//   PROC                        STRING nspace, INT rank
//   KVAL                        STRING key, VALUE
//
// Packer writes exactly what libpmix 1.2.5 writes (the unit tests compare
// with bytes captured from it); Unpacker reads it back and refuses, with
// DataLoss naming the field, anything truncated, oversized or of an
// unexpected type, so it can take bytes from an untrusted client. Pure.
#ifndef PMI_SHIM_PROTOCOL_PMIX_V1_BUFFER_H_
#define PMI_SHIM_PROTOCOL_PMIX_V1_BUFFER_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "protocol/pmix_v1/constants.h"

namespace pmi_shim::protocol::pmix_v1 {

struct Info;

// A pmix_value_t. Integers of every width live in `bits` (two's complement
// for signed types); strings, printed floats and byte objects in `text`;
// an info array in `array`; a timeval's microseconds in `bits2`.
struct Value {
  DataType type = DataType::kUndef;
  uint64_t bits = 0;
  uint64_t bits2 = 0;
  std::string text;
  std::vector<Info> array;

  static Value String(std::string text);
  static Value Uint32(uint32_t value);
  static Value Uint16(uint16_t value);
  static Value Int(int32_t value);
  static Value Size(uint64_t value);
  static Value Bool(bool value);
  static Value ByteObject(std::string bytes);

  int64_t AsInt64() const;
  // Human-readable, for traces and test messages.
  std::string DebugString() const;
  bool operator==(const Value& other) const;
  bool operator!=(const Value& other) const { return !(*this == other); }
};

struct Info {
  std::string key;
  Value value;
  bool operator==(const Info& other) const { return key == other.key && value == other.value; }
};

// A pmix_kval_t: what PMIx_Put stores and what data blobs carry.
using KeyValue = Info;

struct Proc {
  std::string nspace;
  int32_t rank = 0;
  bool operator==(const Proc& other) const { return nspace == other.nspace && rank == other.rank; }
};

class Packer {
 public:
  // pack(..., 1, TYPE) of one element, count included.
  void PackCommand(Command command);
  void PackInt(int32_t value);
  void PackUint32(uint32_t value);
  void PackSize(uint64_t value);
  void PackScope(uint32_t scope);  // PMIX_SCOPE is PMIX_UINT
  void PackString(absl::string_view text);
  void PackNullString();
  void PackBuffer(absl::string_view bytes);
  void PackByte(uint8_t value);
  void PackValue(const Value& value);
  void PackKeyValue(const KeyValue& kv);
  // pack(..., n, TYPE) of n elements under one count.
  void PackProcs(const std::vector<Proc>& procs);
  void PackInfos(const std::vector<Info>& infos);

  // Raw bytes (a payload copied in, as copy_payload does).
  void AppendRaw(absl::string_view bytes) { out_.append(bytes.data(), bytes.size()); }

  const std::string& bytes() const { return out_; }
  std::string Take() { return std::move(out_); }

 private:
  void Int32(int32_t value);
  void Uint16(uint16_t value);
  void Uint64(uint64_t value);
  void Type(DataType type) { Int32(static_cast<int32_t>(type)); }
  void Count(int32_t count) { Int32(count); }
  void StringElement(absl::string_view text);
  void IntElement(int32_t value);
  void SizeElement(uint64_t value);
  void ValueData(const Value& value, int depth);
  void InfoElement(const Info& info, int depth);

  std::string out_;
};

class Unpacker {
 public:
  explicit Unpacker(absl::string_view bytes) : rest_(bytes) {}

  bool AtEnd() const { return rest_.empty(); }
  size_t remaining() const { return rest_.size(); }
  absl::string_view rest() const { return rest_; }

  // unpack(..., &n=1, TYPE): the stored count must be 1.
  absl::StatusOr<Command> UnpackCommand();
  absl::StatusOr<int32_t> UnpackInt();
  absl::StatusOr<uint64_t> UnpackSize();
  absl::StatusOr<uint32_t> UnpackScope();
  // A NULL string reads as "".
  absl::StatusOr<std::string> UnpackString();
  absl::StatusOr<std::string> UnpackBuffer();
  absl::StatusOr<uint8_t> UnpackByte();
  absl::StatusOr<Value> UnpackValue();
  absl::StatusOr<KeyValue> UnpackKeyValue();
  // n elements under one count; the stored count must be `count`.
  absl::StatusOr<std::vector<Proc>> UnpackProcs(uint64_t count);
  absl::StatusOr<std::vector<Info>> UnpackInfos(uint64_t count);

 private:
  absl::Status Need(size_t bytes, absl::string_view what) const;
  absl::StatusOr<int32_t> Int32(absl::string_view what);
  absl::StatusOr<uint64_t> Uint64(absl::string_view what);
  absl::StatusOr<uint16_t> Uint16(absl::string_view what);
  absl::StatusOr<uint8_t> Uint8(absl::string_view what);
  absl::Status ExpectCount(uint64_t count, absl::string_view what);
  absl::StatusOr<std::string> StringElement(absl::string_view what);
  // A self-described integer (INT, UINT, SIZE, PID): the stored type code
  // says how wide it is.
  absl::StatusOr<uint64_t> DescribedInteger(absl::string_view what);
  absl::StatusOr<Value> ValueData(DataType type, int depth);
  // One step per family of types; each reads the data of one value into `value`.
  absl::Status ValueDataInto(DataType type, int depth, Value& value);
  absl::Status FixedIntegerData(DataType type, Value& value);
  absl::Status DescribedIntegerData(DataType type, Value& value);
  absl::Status TextData(Value& value);
  absl::Status TimevalData(Value& value);
  absl::Status ByteObjectData(Value& value);
  absl::Status InfoArrayData(int depth, Value& value);
  absl::StatusOr<Info> InfoElement(int depth);

  absl::string_view rest_;
};

// Every KVAL of a blob of packed KVALs (what PMIx_Commit sends per scope).
absl::StatusOr<std::vector<KeyValue>> UnpackKeyValues(absl::string_view bytes);

}  // namespace pmi_shim::protocol::pmix_v1

#endif  // PMI_SHIM_PROTOCOL_PMIX_V1_BUFFER_H_
