// Numbers of the PMIx v1.2 wire (OpenPMIx v1.2.x, the last release series
// whose clients speak only the "usock" Unix-socket transport): command
// codes, data-type codes, status codes, key names and sizes.
//
// Every value here is a fact read from the v1.2.5 sources (pmix_common.h,
// src/include/pmix_globals.h, src/buffer_ops) and checked against the lab
// build's header by constants_test. They are frozen: v1.2 is end of life,
// and newer PMIx speaks another wire.
#ifndef PMI_SHIM_PROTOCOL_PMIX_V1_CONSTANTS_H_
#define PMI_SHIM_PROTOCOL_PMIX_V1_CONSTANTS_H_

#include <cstddef>
#include <cstdint>

namespace pmi_shim::protocol::pmix_v1 {

// pmix_cmd_t, packed as a uint32 (PMIX_CMD is PMIX_UINT32 in v1.2).
enum class Command : uint32_t {
  kRequestJobInfo = 0,  // PMIX_REQ_CMD: first message after the handshake
  kAbort = 1,
  kCommit = 2,
  kFence = 3,  // PMIX_FENCENB_CMD
  kGet = 4,    // PMIX_GETNB_CMD (direct modex)
  kFinalize = 5,
  kPublish = 6,
  kLookup = 7,
  kUnpublish = 8,
  kSpawn = 9,
  kConnect = 10,
  kDisconnect = 11,
  kNotify = 12,
  kRegisterEvents = 13,
  kDeregisterEvents = 14,
};

// pmix_data_type_t (an enum, packed as an int32 where a type is written).
enum class DataType : int32_t {
  kUndef = 0,
  kBool = 1,
  kByte = 2,
  kString = 3,
  kSize = 4,
  kPid = 5,
  kInt = 6,
  kInt8 = 7,
  kInt16 = 8,
  kInt32 = 9,
  kInt64 = 10,
  kUint = 11,
  kUint8 = 12,
  kUint16 = 13,
  kUint32 = 14,
  kUint64 = 15,
  kFloat = 16,
  kDouble = 17,
  kTimeval = 18,
  kTime = 19,
  kHwlocTopo = 20,
  kValue = 21,
  kInfoArray = 22,
  kProc = 23,
  kApp = 24,
  kInfo = 25,
  kPdata = 26,
  kBuffer = 27,
  kByteObject = 28,
  kKval = 29,
  kModex = 30,
  kPersist = 31,
};

// pmix_status_t values the server sends (v1.2 numbers them from -50 up to
// PMIX_SUCCESS = 0).
inline constexpr int32_t kSuccess = 0;
inline constexpr int32_t kError = -1;
inline constexpr int32_t kErrNotSupported = -47;
inline constexpr int32_t kErrNotFound = -46;
inline constexpr int32_t kErrServerNotAvailable = -45;
inline constexpr int32_t kErrInvalidNamespace = -44;
inline constexpr int32_t kErrInvalidArg = -33;
inline constexpr int32_t kErrBadParam = -27;
inline constexpr int32_t kErrUnreach = -25;
inline constexpr int32_t kErrTimeout = -24;
inline constexpr int32_t kErrProcEntryNotFound = -17;
inline constexpr int32_t kErrInvalidCred = -12;

// pmix_scope_t.
inline constexpr uint32_t kScopeLocal = 1;
inline constexpr uint32_t kScopeRemote = 2;
inline constexpr uint32_t kScopeGlobal = 3;

// Ranks with a meaning (pmix_common.h).
inline constexpr int32_t kRankUndef = INT32_MAX;
inline constexpr int32_t kRankWildcard = INT32_MAX - 1;

// Sizes of the fixed-length fields of pmix_proc_t and pmix_info_t.
inline constexpr size_t kMaxNspaceLength = 255;
inline constexpr size_t kMaxKeyLength = 511;

// Header fields of the connect message (pmix_client.c send_connect_ack).
inline constexpr int32_t kConnectPindex = -1;
inline constexpr uint32_t kConnectTag = UINT32_MAX;
// The connect message may carry at most this much (PMIX_MAX_CRED_SIZE).
inline constexpr size_t kMaxConnectBytes = 131072;
// Tag 0 is reserved for messages the server sends unasked (notifications).
inline constexpr uint32_t kNotifyTag = 0;

// Key names (pmix_common.h of v1.2; most were renamed or retyped later).
inline constexpr char kKeyRank[] = "pmix.rank";
inline constexpr char kKeyJobId[] = "pmix.jobid";
inline constexpr char kKeyAppNum[] = "pmix.appnum";
inline constexpr char kKeyGlobalRank[] = "pmix.grank";
inline constexpr char kKeyAppRank[] = "pmix.apprank";
inline constexpr char kKeyLocalRank[] = "pmix.lrank";
inline constexpr char kKeyNodeRank[] = "pmix.nrank";
inline constexpr char kKeyLocalLeader[] = "pmix.lldr";
inline constexpr char kKeyAppLeader[] = "pmix.aldr";
inline constexpr char kKeyHostname[] = "pmix.hname";
inline constexpr char kKeyNodeId[] = "pmix.nodeid";
inline constexpr char kKeyLocalPeers[] = "pmix.lpeers";
inline constexpr char kKeyUniverseSize[] = "pmix.univ.size";
inline constexpr char kKeyJobSize[] = "pmix.job.size";
inline constexpr char kKeyLocalSize[] = "pmix.local.size";
inline constexpr char kKeyNodeSize[] = "pmix.node.size";
inline constexpr char kKeyMaxProcs[] = "pmix.max.size";
inline constexpr char kKeyNodeList[] = "pmix.nlist";
inline constexpr char kKeyAnlMap[] = "pmix.anlmap";
inline constexpr char kKeyCollectData[] = "pmix.collect";
inline constexpr char kKeyProcBlob[] = "pmix.pblob";
inline constexpr char kKeyMapBlob[] = "pmix.mblob";

}  // namespace pmi_shim::protocol::pmix_v1

#endif  // PMI_SHIM_PROTOCOL_PMIX_V1_CONSTANTS_H_
