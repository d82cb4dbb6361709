// The messages of the PMIx v1.2 usock protocol: the connect exchange and
// each command's request and reply, as a v1.2.5 client sends and expects
// them (src/client/pmix_client*.c, src/server/pmix_server*.c). Pure.
//
// Connect (the only message not in bfrops encoding): a header with pindex
// -1, tag UINT32_MAX and then, in the client's own byte order,
//   nspace NUL, int32 rank, version NUL, credential NUL
// and from 1.2.5 on (a v1 server reads no further)
//   security module NUL, "v12" NUL, uint8 buffer type, gds module NUL.
// The server answers with an int32 status and, on success, an int32 index.
//
// Commands: a header, then `pack(cmd, UINT32)` and the command's fields:
//   REQ        -                                  reply: STRING nspace + job data
//   ABORT      INT status, STRING message, SIZE n, PROC[..]   reply: INT status
//   COMMIT     { SCOPE, BUFFER of KVALs }*        (no reply)
//   FENCENB    SIZE n, PROC[n], SIZE m, INFO[m]   reply: INT status
//   GETNB      STRING nspace, INT rank, SIZE m, INFO[m]
//                                                 reply: INT status, { INT rank, BUFFER }*
//   FINALIZE   -                                  reply: INT status
// Every reply carries the request's tag. COMMIT is fire-and-forget.
#ifndef PMI_SHIM_PROTOCOL_PMIX_V1_MESSAGES_H_
#define PMI_SHIM_PROTOCOL_PMIX_V1_MESSAGES_H_

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "protocol/pmix_v1/buffer.h"
#include "protocol/pmix_v1/constants.h"

namespace pmi_shim::protocol::pmix_v1 {

// ---- connect -----------------------------------------------------------------

struct ConnectRequest {
  std::string nspace;
  int32_t rank = 0;
  std::string version;
  std::string credential;
  // Present from 1.2.5 on; empty when an older client stopped earlier.
  std::string security;
  std::string bfrops;
  uint8_t buffer_type = 0;
  std::string gds;  // "ds12": it reads job data from the shared-memory store
};

// The payload after the connect header. DataLoss if a field is cut short,
// InvalidArgument for an empty or overlong nspace.
absl::StatusOr<ConnectRequest> DecodeConnectRequest(absl::string_view payload);
// What a client sends (header included), for tests and fuzz seeds.
std::string EncodeConnectRequest(const ConnectRequest& request);
// The server's answer: status, then the client's index when status is 0.
std::string EncodeConnectReply(int32_t status, int32_t index);

// ---- commands ----------------------------------------------------------------

struct ScopedBlob {
  uint32_t scope = 0;  // kScopeLocal or kScopeRemote
  std::string kvals;   // packed KVALs
};

struct CommitRequest {
  std::vector<ScopedBlob> blobs;
};

struct FenceRequest {
  std::vector<Proc> procs;
  std::vector<Info> info;
  // PMIX_COLLECT_DATA among the info (default false, as in v1.2).
  bool collect = false;
};

struct GetRequest {
  std::string nspace;
  int32_t rank = 0;
  std::vector<Info> info;
};

struct AbortRequest {
  int32_t status = 0;
  std::string message;
  std::vector<Proc> procs;
};

// The command code at the start of a payload, and the rest after it.
absl::StatusOr<std::pair<Command, absl::string_view>> DecodeCommand(absl::string_view payload);

// Decoders of what follows the command code. DataLoss names the bad field;
// trailing bytes are refused too (a request that does not parse exactly is
// not what the client meant).
absl::StatusOr<CommitRequest> DecodeCommit(absl::string_view body);
absl::StatusOr<FenceRequest> DecodeFence(absl::string_view body);
absl::StatusOr<GetRequest> DecodeGet(absl::string_view body);
absl::StatusOr<AbortRequest> DecodeAbort(absl::string_view body);

// Client-side encoders (payloads without header), for tests and fuzz seeds.
std::string EncodeSimpleCommand(Command command);  // REQ, FINALIZE
std::string EncodeCommit(const CommitRequest& request);
std::string EncodeFence(const FenceRequest& request);  // `collect` goes into info
std::string EncodeGet(const GetRequest& request);
std::string EncodeAbort(const AbortRequest& request);

// ---- replies -----------------------------------------------------------------

// INT status: the reply to ABORT, FENCENB and FINALIZE, and a refused
// request of any kind.
std::string EncodeStatusReply(int32_t status);
// REQ: the nspace, then the job data (packed KVALs, see job_data.h) for a
// client that keeps job data in memory; a ds12 client stops after the name.
std::string EncodeJobInfoReply(absl::string_view nspace, absl::string_view job_data);
// GETNB: status, then per rank an INT rank and a BUFFER of packed KVALs (a
// hash client stores them; a ds12 client reads the shared store instead).
std::string EncodeGetReply(int32_t status,
                           const std::vector<std::pair<int32_t, std::string>>& blobs);

// Reply decoders, for tests and the fuzzers' round trips.
absl::StatusOr<int32_t> DecodeStatusReply(absl::string_view payload);

}  // namespace pmi_shim::protocol::pmix_v1

#endif  // PMI_SHIM_PROTOCOL_PMIX_V1_MESSAGES_H_
