#include "protocol/pmix_v1/buffer.h"

#include <utility>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"

namespace pmi_shim::protocol::pmix_v1 {
namespace {

// Info arrays may nest; a client cannot make the decoder recurse deeper.
constexpr int kMaxDepth = 4;

absl::Status Truncated(absl::string_view what, size_t need, size_t have) {
  return absl::DataLossError(
      absl::StrCat("truncated ", what, ": needs ", need, " bytes, ", have, " left"));
}

}  // namespace

// ---- Value -------------------------------------------------------------------

Value Value::String(std::string text) {
  Value v;
  v.type = DataType::kString;
  v.text = std::move(text);
  return v;
}
Value Value::Uint32(uint32_t value) {
  Value v;
  v.type = DataType::kUint32;
  v.bits = value;
  return v;
}
Value Value::Uint16(uint16_t value) {
  Value v;
  v.type = DataType::kUint16;
  v.bits = value;
  return v;
}
Value Value::Int(int32_t value) {
  Value v;
  v.type = DataType::kInt;
  v.bits = static_cast<uint64_t>(static_cast<int64_t>(value));
  return v;
}
Value Value::Size(uint64_t value) {
  Value v;
  v.type = DataType::kSize;
  v.bits = value;
  return v;
}
Value Value::Bool(bool value) {
  Value v;
  v.type = DataType::kBool;
  v.bits = value ? 1 : 0;
  return v;
}
Value Value::ByteObject(std::string bytes) {
  Value v;
  v.type = DataType::kByteObject;
  v.text = std::move(bytes);
  return v;
}

int64_t Value::AsInt64() const { return static_cast<int64_t>(bits); }

bool Value::operator==(const Value& other) const {
  return type == other.type && bits == other.bits && bits2 == other.bits2 && text == other.text &&
         array == other.array;
}

std::string Value::DebugString() const {
  switch (type) {
    case DataType::kString:
    case DataType::kFloat:
    case DataType::kDouble:
      return absl::StrCat("\"", absl::CHexEscape(text), "\"");
    case DataType::kByteObject:
      return absl::StrCat("bytes[", text.size(), "]");
    case DataType::kInfoArray: {
      std::string out = "{";
      for (const Info& info : array) {
        absl::StrAppend(&out, out.size() > 1 ? ", " : "", info.key, "=", info.value.DebugString());
      }
      return out + "}";
    }
    case DataType::kInt:
    case DataType::kInt8:
    case DataType::kInt16:
    case DataType::kInt32:
    case DataType::kInt64:
      return absl::StrCat(AsInt64());
    case DataType::kTimeval:
      return absl::StrCat(bits, ".", bits2);
    default:
      return absl::StrCat(bits);
  }
}

// ---- Packer ------------------------------------------------------------------

void Packer::Int32(int32_t value) {
  const auto v = static_cast<uint32_t>(value);
  for (int shift = 24; shift >= 0; shift -= 8)
    out_.push_back(static_cast<char>((v >> shift) & 0xff));
}
void Packer::Uint16(uint16_t value) {
  out_.push_back(static_cast<char>(value >> 8));
  out_.push_back(static_cast<char>(value & 0xff));
}
void Packer::Uint64(uint64_t value) {
  for (int shift = 56; shift >= 0; shift -= 8)
    out_.push_back(static_cast<char>((value >> shift) & 0xff));
}

void Packer::StringElement(absl::string_view text) {
  Int32(static_cast<int32_t>(text.size() + 1));
  out_.append(text.data(), text.size());
  out_.push_back('\0');
}
void Packer::IntElement(int32_t value) {
  Type(DataType::kInt32);
  Int32(value);
}
void Packer::SizeElement(uint64_t value) {
  Type(DataType::kUint64);
  Uint64(value);
}

void Packer::ValueData(const Value& value, int depth) {
  switch (value.type) {
    case DataType::kBool:
    case DataType::kByte:
    case DataType::kInt8:
    case DataType::kUint8:
      out_.push_back(static_cast<char>(value.bits & 0xff));
      return;
    case DataType::kInt16:
    case DataType::kUint16:
      Uint16(static_cast<uint16_t>(value.bits));
      return;
    case DataType::kInt32:
    case DataType::kUint32:
      Int32(static_cast<int32_t>(value.bits));
      return;
    case DataType::kInt64:
    case DataType::kUint64:
    case DataType::kTime:
      Uint64(value.bits);
      return;
    case DataType::kInt:
    case DataType::kUint:
      IntElement(static_cast<int32_t>(value.bits));
      return;
    case DataType::kSize:
      SizeElement(value.bits);
      return;
    case DataType::kPid:
      Type(DataType::kUint32);
      Int32(static_cast<int32_t>(value.bits));
      return;
    case DataType::kString:
    case DataType::kFloat:
    case DataType::kDouble:
      StringElement(value.text);
      return;
    case DataType::kTimeval:
      Uint64(value.bits);
      Uint64(value.bits2);
      return;
    case DataType::kByteObject:
      SizeElement(value.text.size());
      out_.append(value.text);
      return;
    case DataType::kInfoArray:
      SizeElement(value.array.size());
      if (depth < kMaxDepth) {
        for (const Info& info : value.array) InfoElement(info, depth + 1);
      }
      return;
    default:
      // Types a v1.2 value cannot hold; libpmix refuses them as well. The
      // server never builds one, so nothing is written.
      return;
  }
}

void Packer::InfoElement(const Info& info, int depth) {
  StringElement(info.key);
  IntElement(static_cast<int32_t>(info.value.type));
  ValueData(info.value, depth);
}

void Packer::PackCommand(Command command) {
  Count(1);
  Int32(static_cast<int32_t>(command));
}
void Packer::PackInt(int32_t value) {
  Count(1);
  IntElement(value);
}
void Packer::PackUint32(uint32_t value) {
  Count(1);
  Int32(static_cast<int32_t>(value));
}
void Packer::PackSize(uint64_t value) {
  Count(1);
  SizeElement(value);
}
void Packer::PackScope(uint32_t scope) {
  Count(1);
  IntElement(static_cast<int32_t>(scope));
}
void Packer::PackString(absl::string_view text) {
  Count(1);
  StringElement(text);
}
void Packer::PackNullString() {
  Count(1);
  Int32(0);
}
void Packer::PackBuffer(absl::string_view bytes) {
  Count(1);
  SizeElement(bytes.size());
  out_.append(bytes.data(), bytes.size());
}
void Packer::PackByte(uint8_t value) {
  Count(1);
  out_.push_back(static_cast<char>(value));
}
void Packer::PackValue(const Value& value) {
  Count(1);
  IntElement(static_cast<int32_t>(value.type));
  ValueData(value, 0);
}
void Packer::PackKeyValue(const KeyValue& kv) {
  Count(1);
  StringElement(kv.key);
  IntElement(static_cast<int32_t>(kv.value.type));
  ValueData(kv.value, 0);
}
void Packer::PackProcs(const std::vector<Proc>& procs) {
  Count(static_cast<int32_t>(procs.size()));
  for (const Proc& proc : procs) {
    StringElement(proc.nspace);
    IntElement(proc.rank);
  }
}
void Packer::PackInfos(const std::vector<Info>& infos) {
  Count(static_cast<int32_t>(infos.size()));
  for (const Info& info : infos) InfoElement(info, 0);
}

// ---- Unpacker ----------------------------------------------------------------

absl::Status Unpacker::Need(size_t bytes, absl::string_view what) const {
  if (rest_.size() < bytes) return Truncated(what, bytes, rest_.size());
  return absl::OkStatus();
}

absl::StatusOr<int32_t> Unpacker::Int32(absl::string_view what) {
  if (absl::Status s = Need(4, what); !s.ok()) return s;
  uint32_t v = 0;
  for (int i = 0; i < 4; ++i) v = (v << 8) | static_cast<unsigned char>(rest_[i]);
  rest_.remove_prefix(4);
  return static_cast<int32_t>(v);
}
absl::StatusOr<uint64_t> Unpacker::Uint64(absl::string_view what) {
  if (absl::Status s = Need(8, what); !s.ok()) return s;
  uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v = (v << 8) | static_cast<unsigned char>(rest_[i]);
  rest_.remove_prefix(8);
  return v;
}
absl::StatusOr<uint16_t> Unpacker::Uint16(absl::string_view what) {
  if (absl::Status s = Need(2, what); !s.ok()) return s;
  const auto v = static_cast<uint16_t>((static_cast<unsigned char>(rest_[0]) << 8) |
                                       static_cast<unsigned char>(rest_[1]));
  rest_.remove_prefix(2);
  return v;
}
absl::StatusOr<uint8_t> Unpacker::Uint8(absl::string_view what) {
  if (absl::Status s = Need(1, what); !s.ok()) return s;
  const auto v = static_cast<uint8_t>(rest_[0]);
  rest_.remove_prefix(1);
  return v;
}

absl::Status Unpacker::ExpectCount(uint64_t count, absl::string_view what) {
  absl::StatusOr<int32_t> stored = Int32(absl::StrCat(what, " count"));
  if (!stored.ok()) return stored.status();
  if (*stored < 0 || static_cast<uint64_t>(*stored) != count) {
    return absl::DataLossError(
        absl::StrCat(what, ": packed count is ", *stored, ", expected ", count));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> Unpacker::StringElement(absl::string_view what) {
  absl::StatusOr<int32_t> length = Int32(absl::StrCat(what, " length"));
  if (!length.ok()) return length.status();
  if (*length == 0) return std::string();
  if (*length < 0) return absl::DataLossError(absl::StrCat(what, ": negative length ", *length));
  const auto bytes = static_cast<size_t>(*length);
  if (absl::Status s = Need(bytes, what); !s.ok()) return s;
  if (rest_[bytes - 1] != '\0') {
    return absl::DataLossError(absl::StrCat(what, ": string not NUL-terminated"));
  }
  std::string text(rest_.substr(0, bytes - 1));
  rest_.remove_prefix(bytes);
  return text;
}

absl::StatusOr<uint64_t> Unpacker::DescribedInteger(absl::string_view what) {
  absl::StatusOr<int32_t> type = Int32(absl::StrCat(what, " type"));
  if (!type.ok()) return type.status();
  switch (static_cast<DataType>(*type)) {
    case DataType::kInt8: {
      absl::StatusOr<uint8_t> v = Uint8(what);
      if (!v.ok()) return v.status();
      return static_cast<uint64_t>(static_cast<int64_t>(static_cast<int8_t>(*v)));
    }
    case DataType::kUint8: {
      absl::StatusOr<uint8_t> v = Uint8(what);
      if (!v.ok()) return v.status();
      return static_cast<uint64_t>(*v);
    }
    case DataType::kInt16: {
      absl::StatusOr<uint16_t> v = Uint16(what);
      if (!v.ok()) return v.status();
      return static_cast<uint64_t>(static_cast<int64_t>(static_cast<int16_t>(*v)));
    }
    case DataType::kUint16: {
      absl::StatusOr<uint16_t> v = Uint16(what);
      if (!v.ok()) return v.status();
      return static_cast<uint64_t>(*v);
    }
    case DataType::kInt32: {
      absl::StatusOr<int32_t> v = Int32(what);
      if (!v.ok()) return v.status();
      return static_cast<uint64_t>(static_cast<int64_t>(*v));
    }
    case DataType::kUint32: {
      absl::StatusOr<int32_t> v = Int32(what);
      if (!v.ok()) return v.status();
      return static_cast<uint64_t>(static_cast<uint32_t>(*v));
    }
    case DataType::kInt64:
    case DataType::kUint64:
      return Uint64(what);
    default:
      return absl::DataLossError(
          absl::StrCat(what, ": type code ", *type, " is not an integer type"));
  }
}

absl::Status Unpacker::FixedIntegerData(DataType type, Value& value) {
  switch (type) {
    case DataType::kInt16:
    case DataType::kUint16: {
      absl::StatusOr<uint16_t> v = Uint16("value");
      if (!v.ok()) return v.status();
      value.bits = *v;
      return absl::OkStatus();
    }
    case DataType::kInt32:
    case DataType::kUint32: {
      absl::StatusOr<int32_t> v = Int32("value");
      if (!v.ok()) return v.status();
      value.bits = type == DataType::kInt32 ? static_cast<uint64_t>(static_cast<int64_t>(*v))
                                            : static_cast<uint64_t>(static_cast<uint32_t>(*v));
      return absl::OkStatus();
    }
    case DataType::kInt64:
    case DataType::kUint64:
    case DataType::kTime: {
      absl::StatusOr<uint64_t> v = Uint64("value");
      if (!v.ok()) return v.status();
      value.bits = *v;
      return absl::OkStatus();
    }
    default: {  // BOOL, BYTE, INT8, UINT8: one byte.
      absl::StatusOr<uint8_t> v = Uint8("value");
      if (!v.ok()) return v.status();
      value.bits = *v;
      return absl::OkStatus();
    }
  }
}

absl::Status Unpacker::DescribedIntegerData(DataType type, Value& value) {
  absl::StatusOr<uint64_t> v = DescribedInteger("value");
  if (!v.ok()) return v.status();
  // INT, UINT and PID are 32-bit values whatever width was packed.
  if (type == DataType::kInt) {
    value.bits = static_cast<uint64_t>(static_cast<int64_t>(static_cast<int32_t>(*v)));
  } else if (type != DataType::kSize) {
    value.bits = static_cast<uint32_t>(*v);
  } else {
    value.bits = *v;
  }
  return absl::OkStatus();
}

absl::Status Unpacker::TextData(Value& value) {
  absl::StatusOr<std::string> v = StringElement("string value");
  if (!v.ok()) return v.status();
  value.text = std::move(*v);
  return absl::OkStatus();
}

absl::Status Unpacker::TimevalData(Value& value) {
  absl::StatusOr<uint64_t> sec = Uint64("timeval");
  if (!sec.ok()) return sec.status();
  absl::StatusOr<uint64_t> usec = Uint64("timeval");
  if (!usec.ok()) return usec.status();
  value.bits = *sec;
  value.bits2 = *usec;
  return absl::OkStatus();
}

absl::Status Unpacker::ByteObjectData(Value& value) {
  absl::StatusOr<uint64_t> size = DescribedInteger("byte object size");
  if (!size.ok()) return size.status();
  if (absl::Status s = Need(*size, "byte object"); !s.ok()) return s;
  value.text = std::string(rest_.substr(0, *size));
  rest_.remove_prefix(*size);
  return absl::OkStatus();
}

absl::Status Unpacker::InfoArrayData(int depth, Value& value) {
  if (depth >= kMaxDepth) return absl::DataLossError("info arrays nested too deep");
  absl::StatusOr<uint64_t> size = DescribedInteger("info array size");
  if (!size.ok()) return size.status();
  // Each info takes at least 12 bytes: a count cannot exceed what is left.
  if (*size > rest_.size() / 12) {
    return absl::DataLossError(
        absl::StrCat("info array of ", *size, " entries in ", rest_.size(), " bytes"));
  }
  for (uint64_t i = 0; i < *size; ++i) {
    absl::StatusOr<Info> info = InfoElement(depth + 1);
    if (!info.ok()) return info.status();
    value.array.push_back(std::move(*info));
  }
  return absl::OkStatus();
}

absl::Status Unpacker::ValueDataInto(DataType type, int depth, Value& value) {
  switch (type) {
    case DataType::kBool:
    case DataType::kByte:
    case DataType::kInt8:
    case DataType::kUint8:
    case DataType::kInt16:
    case DataType::kUint16:
    case DataType::kInt32:
    case DataType::kUint32:
    case DataType::kInt64:
    case DataType::kUint64:
    case DataType::kTime:
      return FixedIntegerData(type, value);
    case DataType::kInt:
    case DataType::kUint:
    case DataType::kSize:
    case DataType::kPid:
      return DescribedIntegerData(type, value);
    case DataType::kString:
    case DataType::kFloat:
    case DataType::kDouble:
      return TextData(value);
    case DataType::kTimeval:
      return TimevalData(value);
    case DataType::kByteObject:
      return ByteObjectData(value);
    case DataType::kInfoArray:
      return InfoArrayData(depth, value);
    default:
      return absl::DataLossError(
          absl::StrCat("value of type ", static_cast<int32_t>(type), " is not supported"));
  }
}

absl::StatusOr<Value> Unpacker::ValueData(DataType type, int depth) {
  Value value;
  value.type = type;
  if (absl::Status s = ValueDataInto(type, depth, value); !s.ok()) return s;
  return value;
}

absl::StatusOr<Info> Unpacker::InfoElement(int depth) {
  Info info;
  absl::StatusOr<std::string> key = StringElement("info key");
  if (!key.ok()) return key.status();
  if (key->size() > kMaxKeyLength) {
    return absl::DataLossError(absl::StrCat("key of ", key->size(), " bytes"));
  }
  info.key = std::move(*key);
  absl::StatusOr<uint64_t> type = DescribedInteger("value type");
  if (!type.ok()) return type.status();
  absl::StatusOr<Value> value =
      ValueData(static_cast<DataType>(static_cast<int32_t>(*type)), depth);
  if (!value.ok()) return value.status();
  info.value = std::move(*value);
  return info;
}

absl::StatusOr<Command> Unpacker::UnpackCommand() {
  if (absl::Status s = ExpectCount(1, "command"); !s.ok()) return s;
  absl::StatusOr<int32_t> v = Int32("command");
  if (!v.ok()) return v.status();
  return static_cast<Command>(static_cast<uint32_t>(*v));
}

absl::StatusOr<int32_t> Unpacker::UnpackInt() {
  if (absl::Status s = ExpectCount(1, "int"); !s.ok()) return s;
  absl::StatusOr<uint64_t> v = DescribedInteger("int");
  if (!v.ok()) return v.status();
  return static_cast<int32_t>(*v);
}

absl::StatusOr<uint64_t> Unpacker::UnpackSize() {
  if (absl::Status s = ExpectCount(1, "size"); !s.ok()) return s;
  return DescribedInteger("size");
}

absl::StatusOr<uint32_t> Unpacker::UnpackScope() {
  if (absl::Status s = ExpectCount(1, "scope"); !s.ok()) return s;
  absl::StatusOr<uint64_t> v = DescribedInteger("scope");
  if (!v.ok()) return v.status();
  return static_cast<uint32_t>(*v);
}

absl::StatusOr<std::string> Unpacker::UnpackString() {
  if (absl::Status s = ExpectCount(1, "string"); !s.ok()) return s;
  return StringElement("string");
}

absl::StatusOr<std::string> Unpacker::UnpackBuffer() {
  if (absl::Status s = ExpectCount(1, "buffer"); !s.ok()) return s;
  absl::StatusOr<uint64_t> size = DescribedInteger("buffer size");
  if (!size.ok()) return size.status();
  if (absl::Status s = Need(*size, "buffer"); !s.ok()) return s;
  std::string bytes(rest_.substr(0, *size));
  rest_.remove_prefix(*size);
  return bytes;
}

absl::StatusOr<uint8_t> Unpacker::UnpackByte() {
  if (absl::Status s = ExpectCount(1, "byte"); !s.ok()) return s;
  return Uint8("byte");
}

absl::StatusOr<Value> Unpacker::UnpackValue() {
  if (absl::Status s = ExpectCount(1, "value"); !s.ok()) return s;
  absl::StatusOr<uint64_t> type = DescribedInteger("value type");
  if (!type.ok()) return type.status();
  return ValueData(static_cast<DataType>(static_cast<int32_t>(*type)), 0);
}

absl::StatusOr<KeyValue> Unpacker::UnpackKeyValue() {
  if (absl::Status s = ExpectCount(1, "kval"); !s.ok()) return s;
  return InfoElement(0);
}

absl::StatusOr<std::vector<Proc>> Unpacker::UnpackProcs(uint64_t count) {
  // Each proc takes at least 12 bytes.
  if (count > rest_.size() / 12) {
    return absl::DataLossError(absl::StrCat(count, " procs announced in ", rest_.size(), " bytes"));
  }
  if (absl::Status s = ExpectCount(count, "procs"); !s.ok()) return s;
  std::vector<Proc> procs;
  for (uint64_t i = 0; i < count; ++i) {
    Proc proc;
    absl::StatusOr<std::string> nspace = StringElement("proc nspace");
    if (!nspace.ok()) return nspace.status();
    if (nspace->size() > kMaxNspaceLength) {
      return absl::DataLossError(absl::StrCat("nspace of ", nspace->size(), " bytes"));
    }
    proc.nspace = std::move(*nspace);
    absl::StatusOr<uint64_t> rank = DescribedInteger("proc rank");
    if (!rank.ok()) return rank.status();
    proc.rank = static_cast<int32_t>(*rank);
    procs.push_back(std::move(proc));
  }
  return procs;
}

absl::StatusOr<std::vector<Info>> Unpacker::UnpackInfos(uint64_t count) {
  if (count > rest_.size() / 12) {
    return absl::DataLossError(absl::StrCat(count, " infos announced in ", rest_.size(), " bytes"));
  }
  if (absl::Status s = ExpectCount(count, "infos"); !s.ok()) return s;
  std::vector<Info> infos;
  for (uint64_t i = 0; i < count; ++i) {
    absl::StatusOr<Info> info = InfoElement(0);
    if (!info.ok()) return info.status();
    infos.push_back(std::move(*info));
  }
  return infos;
}

absl::StatusOr<std::vector<KeyValue>> UnpackKeyValues(absl::string_view bytes) {
  Unpacker in(bytes);
  std::vector<KeyValue> out;
  while (!in.AtEnd()) {
    absl::StatusOr<KeyValue> kv = in.UnpackKeyValue();
    if (!kv.ok()) return kv.status();
    out.push_back(std::move(*kv));
  }
  return out;
}

}  // namespace pmi_shim::protocol::pmix_v1
