#include "protocol/pmix_v1/compact_values.h"

#include "absl/strings/str_cat.h"

namespace pmi_shim::protocol::pmix_v1 {
namespace {

constexpr uint8_t kPackedValue = 255;

void PutVarint(std::string& out, uint64_t v) {
  while (v >= 0x80) {
    out.push_back(static_cast<char>((v & 0x7f) | 0x80));
    v >>= 7;
  }
  out.push_back(static_cast<char>(v));
}

absl::StatusOr<uint64_t> GetVarint(absl::string_view& in) {
  uint64_t v = 0;
  for (int shift = 0; shift < 64; shift += 7) {
    if (in.empty()) return absl::DataLossError("compact values: truncated varint");
    const auto byte = static_cast<uint8_t>(in[0]);
    in.remove_prefix(1);
    v |= static_cast<uint64_t>(byte & 0x7f) << shift;
    if ((byte & 0x80) == 0) return v;
  }
  return absl::DataLossError("compact values: varint too long");
}

uint64_t ZigZag(int64_t v) {
  return (static_cast<uint64_t>(v) << 1) ^ static_cast<uint64_t>(v >> 63);
}
int64_t UnZigZag(uint64_t v) { return static_cast<int64_t>(v >> 1) ^ -static_cast<int64_t>(v & 1); }

enum class Form { kByte, kSigned, kUnsigned, kBytes, kPacked };

Form FormOf(DataType type) {
  switch (type) {
    case DataType::kBool:
    case DataType::kByte:
    case DataType::kInt8:
    case DataType::kUint8:
      return Form::kByte;
    case DataType::kInt:
    case DataType::kInt16:
    case DataType::kInt32:
    case DataType::kInt64:
      return Form::kSigned;
    case DataType::kUint:
    case DataType::kUint16:
    case DataType::kUint32:
    case DataType::kUint64:
    case DataType::kSize:
    case DataType::kPid:
    case DataType::kTime:
      return Form::kUnsigned;
    case DataType::kString:
    case DataType::kFloat:
    case DataType::kDouble:
    case DataType::kByteObject:
      return Form::kBytes;
    default:
      return Form::kPacked;
  }
}

// Sign-extends the low bits of a signed value as its type holds it.
int64_t SignedOf(const Value& v) {
  switch (v.type) {
    case DataType::kInt16:
      return static_cast<int16_t>(v.bits);
    case DataType::kInt32:
    case DataType::kInt:
      return static_cast<int32_t>(v.bits);
    default:
      return static_cast<int64_t>(v.bits);
  }
}

// Keeps only the bits the type holds, the way the v1 buffer decoder keeps
// them (signed 32-bit values sign-extended, narrower ones as unsigned), so
// that a decoded value encodes back to itself.
void Normalize(Value& v) {
  switch (v.type) {
    case DataType::kInt:
    case DataType::kInt32:
      v.bits = static_cast<uint64_t>(static_cast<int64_t>(static_cast<int32_t>(v.bits)));
      break;
    case DataType::kInt16:
    case DataType::kUint16:
      v.bits &= 0xffff;
      break;
    case DataType::kUint:
    case DataType::kUint32:
    case DataType::kPid:
      v.bits &= 0xffffffffu;
      break;
    default:
      break;
  }
}

// The NUL-terminated key at the front of `in`.
absl::StatusOr<std::string> TakeKey(absl::string_view& in) {
  const size_t nul = in.find('\0');
  if (nul == absl::string_view::npos || nul > kMaxKeyLength) {
    return absl::DataLossError("compact values: key not NUL-terminated within 511 bytes");
  }
  std::string key(in.substr(0, nul));
  in.remove_prefix(nul + 1);
  return key;
}

// The kind byte after a key: a data type, or kPackedValue.
absl::StatusOr<uint8_t> TakeKind(absl::string_view& in) {
  if (in.empty()) return absl::DataLossError("compact values: missing kind");
  const auto kind = static_cast<uint8_t>(in[0]);
  in.remove_prefix(1);
  return kind;
}

// A value kept in the packed wire form, behind its length.
absl::StatusOr<Value> TakePackedValue(absl::string_view& in) {
  absl::StatusOr<uint64_t> size = GetVarint(in);
  if (!size.ok()) return size.status();
  if (*size > in.size()) return absl::DataLossError("compact values: truncated packed value");
  Unpacker packed(in.substr(0, *size));
  absl::StatusOr<Value> value = packed.UnpackValue();
  if (!value.ok()) return value.status();
  if (!packed.AtEnd()) return absl::DataLossError("compact values: packed value overruns");
  in.remove_prefix(*size);
  return value;
}

// A value in the compact form its type's Form chooses.
absl::StatusOr<Value> TakeCompactValue(uint8_t kind, absl::string_view& in) {
  Value value;
  value.type = static_cast<DataType>(kind);
  switch (FormOf(value.type)) {
    case Form::kByte:
      if (in.empty()) return absl::DataLossError("compact values: truncated byte");
      value.bits = static_cast<uint8_t>(in[0]);
      in.remove_prefix(1);
      break;
    case Form::kSigned: {
      absl::StatusOr<uint64_t> v = GetVarint(in);
      if (!v.ok()) return v.status();
      value.bits = static_cast<uint64_t>(UnZigZag(*v));
      Normalize(value);
      break;
    }
    case Form::kUnsigned: {
      absl::StatusOr<uint64_t> v = GetVarint(in);
      if (!v.ok()) return v.status();
      value.bits = *v;
      Normalize(value);
      break;
    }
    case Form::kBytes: {
      absl::StatusOr<uint64_t> size = GetVarint(in);
      if (!size.ok()) return size.status();
      if (*size > in.size()) return absl::DataLossError("compact values: truncated bytes");
      value.text = std::string(in.substr(0, *size));
      in.remove_prefix(*size);
      break;
    }
    case Form::kPacked:
      return absl::DataLossError(absl::StrCat("compact values: unknown kind ", kind));
  }
  return value;
}

}  // namespace

std::string EncodeCompact(const std::vector<KeyValue>& kvals) {
  std::string out;
  for (const KeyValue& kv : kvals) {
    out.append(kv.key);
    out.push_back('\0');
    const Form form = FormOf(kv.value.type);
    if (form == Form::kPacked) {
      Packer packed;
      packed.PackValue(kv.value);
      out.push_back(static_cast<char>(kPackedValue));
      PutVarint(out, packed.bytes().size());
      out.append(packed.bytes());
      continue;
    }
    out.push_back(static_cast<char>(kv.value.type));
    switch (form) {
      case Form::kByte:
        out.push_back(static_cast<char>(kv.value.bits & 0xff));
        break;
      case Form::kSigned:
        PutVarint(out, ZigZag(SignedOf(kv.value)));
        break;
      case Form::kUnsigned:
        PutVarint(out, kv.value.bits);
        break;
      default:
        PutVarint(out, kv.value.text.size());
        out.append(kv.value.text);
        break;
    }
  }
  return out;
}

absl::StatusOr<std::vector<KeyValue>> DecodeCompact(absl::string_view bytes) {
  std::vector<KeyValue> out;
  absl::string_view in = bytes;
  while (!in.empty()) {
    absl::StatusOr<std::string> key = TakeKey(in);
    if (!key.ok()) return key.status();
    absl::StatusOr<uint8_t> kind = TakeKind(in);
    if (!kind.ok()) return kind.status();
    absl::StatusOr<Value> value =
        *kind == kPackedValue ? TakePackedValue(in) : TakeCompactValue(*kind, in);
    if (!value.ok()) return value.status();
    KeyValue kv;
    kv.key = std::move(*key);
    kv.value = std::move(*value);
    out.push_back(std::move(kv));
  }
  return out;
}

}  // namespace pmi_shim::protocol::pmix_v1
