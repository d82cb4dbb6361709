// The control protocol between a node's PMIx server (`pmi-bridge
// node-server`) and the bridges of that node's ranks, over the node
// directory's Unix socket. Pure: messages, their frames and a decoder.
//
// A frame is "<decimal length>:" and a payload of fields, each
// "<decimal length>:<bytes>" (netstring-like, so fields may hold any byte);
// the first field is the message's verb.
//
//   bridge -> server
//     hello RANK JOB... NODES      join as RANK of the job (session::JobInfo),
//                                  NODES: the launcher's node of every rank
//     reply ID CODE TEXT VALUE     the answer to call ID (absl status code)
//     exited HOW                   the rank's command ended ("exited with code 3")
//     leave                        the bridge is done; answered by bye
//   server -> bridge
//     welcome NAME=VALUE...        the command's PMIx environment (setup_fork)
//     refused REASON
//     call ID put KEY VALUE | call ID get KEY | call ID barrier
//                                  host work the rank's bridge does upstream
//     tell claimed | tell finalized | tell abort CODE MESSAGE | tell lost REASON
//                                  news about the rank's client
//     bye                          nothing more will come; the node is clean
//                                  when this is the last bridge's bye
#ifndef PMI_SHIM_BRIDGE_NODE_NODE_PROTOCOL_H_
#define PMI_SHIM_BRIDGE_NODE_NODE_PROTOCOL_H_

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "bridge/session/job_host.h"

namespace pmi_shim::node {

struct Message {
  std::string verb;
  std::vector<std::string> args;

  bool operator==(const Message& other) const { return verb == other.verb && args == other.args; }
};

// Frames longer than this are refused: a broken peer cannot make the other
// side buffer without bound (modex blobs travel in KVS-sized pieces).
inline constexpr size_t kMaxFrameBytes = 64u << 20;

std::string EncodeFrame(const Message& message);

// Splits a byte stream into messages.
class FrameDecoder {
 public:
  void Feed(absl::string_view bytes) { buffer_.append(bytes.data(), bytes.size()); }
  // The next whole message, nullopt if more bytes are needed; DataLoss for
  // bytes that are not frames (the stream is then unusable).
  absl::StatusOr<std::optional<Message>> Next();

 private:
  std::string buffer_;
  size_t offset_ = 0;
};

// ---- typed messages ----------------------------------------------------------

struct Hello {
  int rank = 0;
  session::JobInfo job;
  // job.size entries, numbered as NodePlan numbers them (so every bridge of
  // the job sends the same).
  std::vector<int> node_of_rank;
};
Message EncodeHello(const Hello& hello);
absl::StatusOr<Hello> DecodeHello(const Message& message);

enum class CallOp { kPut, kGet, kBarrier };
struct Call {
  uint64_t id = 0;
  CallOp op = CallOp::kBarrier;
  std::string key;
  std::string value;  // put only
};
Message EncodeCall(const Call& call);
absl::StatusOr<Call> DecodeCall(const Message& message);

struct Reply {
  uint64_t id = 0;
  absl::Status status;
  std::string value;  // get only
};
Message EncodeReply(const Reply& reply);
absl::StatusOr<Reply> DecodeReply(const Message& message);

enum class NoticeKind { kClaimed, kFinalized, kAbort, kLost };
struct Notice {
  NoticeKind kind = NoticeKind::kClaimed;
  int code = 0;      // abort's exit code
  std::string text;  // abort's message, lost's reason
};
Message EncodeNotice(const Notice& notice);
absl::StatusOr<Notice> DecodeNotice(const Message& message);

}  // namespace pmi_shim::node

#endif  // PMI_SHIM_BRIDGE_NODE_NODE_PROTOCOL_H_
