#include "protocol/pmix_v1/header.h"

#include "absl/strings/str_cat.h"

namespace pmi_shim::protocol::pmix_v1 {

void AppendLittleEndian32(std::string& out, uint32_t value) {
  for (int i = 0; i < 4; ++i) out.push_back(static_cast<char>((value >> (8 * i)) & 0xff));
}

void AppendLittleEndian64(std::string& out, uint64_t value) {
  for (int i = 0; i < 8; ++i) out.push_back(static_cast<char>((value >> (8 * i)) & 0xff));
}

uint32_t ReadLittleEndian32(const char* bytes) {
  uint32_t value = 0;
  for (int i = 3; i >= 0; --i) value = (value << 8) | static_cast<unsigned char>(bytes[i]);
  return value;
}

uint64_t ReadLittleEndian64(const char* bytes) {
  uint64_t value = 0;
  for (int i = 7; i >= 0; --i) value = (value << 8) | static_cast<unsigned char>(bytes[i]);
  return value;
}

std::string EncodeHeader(const Header& header) {
  std::string out;
  out.reserve(kHeaderBytes);
  AppendLittleEndian32(out, static_cast<uint32_t>(header.pindex));
  AppendLittleEndian32(out, header.tag);
  AppendLittleEndian64(out, header.nbytes);
  return out;
}

absl::StatusOr<Header> DecodeHeader(absl::string_view bytes, uint64_t max_payload) {
  if (bytes.size() < kHeaderBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("a PMIx v1 header is ", kHeaderBytes, " bytes, got ", bytes.size()));
  }
  Header header;
  header.pindex = static_cast<int32_t>(ReadLittleEndian32(bytes.data()));
  header.tag = ReadLittleEndian32(bytes.data() + 4);
  header.nbytes = ReadLittleEndian64(bytes.data() + 8);
  if (header.nbytes > max_payload) {
    return absl::OutOfRangeError(
        absl::StrCat("message of ", header.nbytes, " bytes announced, the limit is ", max_payload));
  }
  return header;
}

std::string EncodeMessage(int32_t pindex, uint32_t tag, absl::string_view payload) {
  std::string out = EncodeHeader(Header{pindex, tag, payload.size()});
  out.append(payload.data(), payload.size());
  return out;
}

}  // namespace pmi_shim::protocol::pmix_v1
