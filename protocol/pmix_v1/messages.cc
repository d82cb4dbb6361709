#include "protocol/pmix_v1/messages.h"

#include <cstring>

#include "absl/strings/str_cat.h"
#include "protocol/pmix_v1/header.h"

namespace pmi_shim::protocol::pmix_v1 {
namespace {

// Reads a NUL-terminated field of the connect payload.
absl::StatusOr<std::string> CString(absl::string_view& rest, absl::string_view what) {
  const size_t nul = rest.find('\0');
  if (nul == absl::string_view::npos) {
    return absl::DataLossError(absl::StrCat("connect message: ", what, " is not NUL-terminated"));
  }
  std::string field(rest.substr(0, nul));
  rest.remove_prefix(nul + 1);
  return field;
}

absl::Status Trailing(const Unpacker& in, absl::string_view what) {
  if (in.AtEnd()) return absl::OkStatus();
  return absl::DataLossError(
      absl::StrCat(what, ": ", in.remaining(), " unexpected trailing bytes"));
}

}  // namespace

absl::StatusOr<ConnectRequest> DecodeConnectRequest(absl::string_view payload) {
  ConnectRequest request;
  absl::string_view rest = payload;
  absl::StatusOr<std::string> nspace = CString(rest, "nspace");
  if (!nspace.ok()) return nspace.status();
  if (nspace->empty() || nspace->size() > kMaxNspaceLength) {
    return absl::InvalidArgumentError(
        absl::StrCat("connect message: nspace of ", nspace->size(), " bytes"));
  }
  request.nspace = std::move(*nspace);
  if (rest.size() < 4) return absl::DataLossError("connect message: rank is cut short");
  request.rank = static_cast<int32_t>(ReadLittleEndian32(rest.data()));
  rest.remove_prefix(4);
  absl::StatusOr<std::string> version = CString(rest, "version");
  if (!version.ok()) return version.status();
  request.version = std::move(*version);
  absl::StatusOr<std::string> credential = CString(rest, "credential");
  if (!credential.ok()) return credential.status();
  request.credential = std::move(*credential);
  // The 1.2.5 additions, each optional: an older client ends here.
  if (rest.empty()) return request;
  absl::StatusOr<std::string> security = CString(rest, "security module");
  if (!security.ok()) return security.status();
  request.security = std::move(*security);
  if (rest.empty()) return request;
  absl::StatusOr<std::string> bfrops = CString(rest, "bfrops module");
  if (!bfrops.ok()) return bfrops.status();
  request.bfrops = std::move(*bfrops);
  if (rest.empty()) return request;
  request.buffer_type = static_cast<uint8_t>(rest[0]);
  rest.remove_prefix(1);
  if (rest.empty()) return request;
  absl::StatusOr<std::string> gds = CString(rest, "gds module");
  if (!gds.ok()) return gds.status();
  request.gds = std::move(*gds);
  return request;
}

std::string EncodeConnectRequest(const ConnectRequest& request) {
  std::string body;
  body.append(request.nspace).push_back('\0');
  AppendLittleEndian32(body, static_cast<uint32_t>(request.rank));
  body.append(request.version).push_back('\0');
  body.append(request.credential).push_back('\0');
  body.append(request.security).push_back('\0');
  body.append(request.bfrops).push_back('\0');
  body.push_back(static_cast<char>(request.buffer_type));
  body.append(request.gds).push_back('\0');
  return EncodeMessage(kConnectPindex, kConnectTag, body);
}

std::string EncodeConnectReply(int32_t status, int32_t index) {
  std::string out;
  AppendLittleEndian32(out, static_cast<uint32_t>(status));
  if (status == kSuccess) AppendLittleEndian32(out, static_cast<uint32_t>(index));
  return out;
}

absl::StatusOr<std::pair<Command, absl::string_view>> DecodeCommand(absl::string_view payload) {
  Unpacker in(payload);
  absl::StatusOr<Command> command = in.UnpackCommand();
  if (!command.ok()) return command.status();
  return std::make_pair(*command, in.rest());
}

absl::StatusOr<CommitRequest> DecodeCommit(absl::string_view body) {
  Unpacker in(body);
  CommitRequest request;
  while (!in.AtEnd()) {
    ScopedBlob blob;
    absl::StatusOr<uint32_t> scope = in.UnpackScope();
    if (!scope.ok()) return scope.status();
    if (*scope != kScopeLocal && *scope != kScopeRemote) {
      return absl::DataLossError(
          absl::StrCat("commit: scope ", *scope, " is neither local nor remote"));
    }
    blob.scope = *scope;
    absl::StatusOr<std::string> kvals = in.UnpackBuffer();
    if (!kvals.ok()) return kvals.status();
    // The blob must be KVALs: refuse it here rather than store garbage.
    absl::StatusOr<std::vector<KeyValue>> parsed = UnpackKeyValues(*kvals);
    if (!parsed.ok()) {
      return absl::DataLossError(absl::StrCat("commit: ", parsed.status().message()));
    }
    blob.kvals = std::move(*kvals);
    request.blobs.push_back(std::move(blob));
  }
  return request;
}

absl::StatusOr<FenceRequest> DecodeFence(absl::string_view body) {
  Unpacker in(body);
  FenceRequest request;
  absl::StatusOr<uint64_t> nprocs = in.UnpackSize();
  if (!nprocs.ok()) return nprocs.status();
  absl::StatusOr<std::vector<Proc>> procs = in.UnpackProcs(*nprocs);
  if (!procs.ok()) return procs.status();
  request.procs = std::move(*procs);
  absl::StatusOr<uint64_t> ninfo = in.UnpackSize();
  if (!ninfo.ok()) return ninfo.status();
  if (*ninfo > 0) {
    absl::StatusOr<std::vector<Info>> info = in.UnpackInfos(*ninfo);
    if (!info.ok()) return info.status();
    request.info = std::move(*info);
  }
  for (const Info& info : request.info) {
    if (info.key == kKeyCollectData && info.value.type == DataType::kBool) {
      request.collect = info.value.bits != 0;
    }
  }
  if (absl::Status s = Trailing(in, "fence"); !s.ok()) return s;
  return request;
}

absl::StatusOr<GetRequest> DecodeGet(absl::string_view body) {
  Unpacker in(body);
  GetRequest request;
  absl::StatusOr<std::string> nspace = in.UnpackString();
  if (!nspace.ok()) return nspace.status();
  request.nspace = std::move(*nspace);
  absl::StatusOr<int32_t> rank = in.UnpackInt();
  if (!rank.ok()) return rank.status();
  request.rank = *rank;
  absl::StatusOr<uint64_t> ninfo = in.UnpackSize();
  if (!ninfo.ok()) return ninfo.status();
  if (*ninfo > 0) {
    absl::StatusOr<std::vector<Info>> info = in.UnpackInfos(*ninfo);
    if (!info.ok()) return info.status();
    request.info = std::move(*info);
  }
  if (absl::Status s = Trailing(in, "get"); !s.ok()) return s;
  return request;
}

absl::StatusOr<AbortRequest> DecodeAbort(absl::string_view body) {
  Unpacker in(body);
  AbortRequest request;
  absl::StatusOr<int32_t> status = in.UnpackInt();
  if (!status.ok()) return status.status();
  request.status = *status;
  absl::StatusOr<std::string> message = in.UnpackString();
  if (!message.ok()) return message.status();
  request.message = std::move(*message);
  absl::StatusOr<uint64_t> nprocs = in.UnpackSize();
  if (!nprocs.ok()) return nprocs.status();
  // 1.2.5 packs only the first of the procs it names, under a count of 1.
  if (*nprocs > 0) {
    absl::StatusOr<std::vector<Proc>> procs = in.UnpackProcs(1);
    if (!procs.ok()) return procs.status();
    request.procs = std::move(*procs);
  }
  if (absl::Status s = Trailing(in, "abort"); !s.ok()) return s;
  return request;
}

std::string EncodeSimpleCommand(Command command) {
  Packer out;
  out.PackCommand(command);
  return out.Take();
}

std::string EncodeCommit(const CommitRequest& request) {
  Packer out;
  out.PackCommand(Command::kCommit);
  for (const ScopedBlob& blob : request.blobs) {
    out.PackScope(blob.scope);
    out.PackBuffer(blob.kvals);
  }
  return out.Take();
}

std::string EncodeFence(const FenceRequest& request) {
  Packer out;
  out.PackCommand(Command::kFence);
  out.PackSize(request.procs.size());
  out.PackProcs(request.procs);
  std::vector<Info> info = request.info;
  if (request.collect) info.push_back(Info{kKeyCollectData, Value::Bool(true)});
  out.PackSize(info.size());
  if (!info.empty()) out.PackInfos(info);
  return out.Take();
}

std::string EncodeGet(const GetRequest& request) {
  Packer out;
  out.PackCommand(Command::kGet);
  out.PackString(request.nspace);
  out.PackInt(request.rank);
  out.PackSize(request.info.size());
  if (!request.info.empty()) out.PackInfos(request.info);
  return out.Take();
}

std::string EncodeAbort(const AbortRequest& request) {
  Packer out;
  out.PackCommand(Command::kAbort);
  out.PackInt(request.status);
  if (request.message.empty()) {
    out.PackNullString();
  } else {
    out.PackString(request.message);
  }
  out.PackSize(request.procs.size());
  if (!request.procs.empty()) out.PackProcs({request.procs.front()});
  return out.Take();
}

std::string EncodeStatusReply(int32_t status) {
  Packer out;
  out.PackInt(status);
  return out.Take();
}

std::string EncodeJobInfoReply(absl::string_view nspace, absl::string_view job_data) {
  Packer out;
  out.PackString(nspace);
  out.AppendRaw(job_data);
  return out.Take();
}

std::string EncodeGetReply(int32_t status,
                           const std::vector<std::pair<int32_t, std::string>>& blobs) {
  Packer out;
  out.PackInt(status);
  for (const auto& [rank, kvals] : blobs) {
    out.PackInt(rank);
    out.PackBuffer(kvals);
  }
  return out.Take();
}

absl::StatusOr<int32_t> DecodeStatusReply(absl::string_view payload) {
  Unpacker in(payload);
  return in.UnpackInt();
}

}  // namespace pmi_shim::protocol::pmix_v1
