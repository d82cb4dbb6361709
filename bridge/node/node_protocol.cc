#include "bridge/node/node_protocol.h"

#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "common/status_macros.h"

namespace pmi_shim::node {
namespace {

void AppendField(std::string& out, absl::string_view field) {
  absl::StrAppend(&out, field.size(), ":", field);
}

// Reads "<length>:" at `at` in `text`; nullopt if the text ends first,
// DataLoss if it is not a length.
absl::StatusOr<std::optional<size_t>> ReadLength(absl::string_view text, size_t& at, size_t limit) {
  size_t value = 0;
  size_t digits = 0;
  for (; at < text.size(); ++at, ++digits) {
    const char c = text[at];
    if (c == ':') {
      if (digits == 0) return absl::DataLossError("empty length in a node control frame");
      ++at;
      return std::optional<size_t>(value);
    }
    if (c < '0' || c > '9' || digits >= 10) {
      return absl::DataLossError("malformed length in a node control frame");
    }
    value = value * 10 + static_cast<size_t>(c - '0');
    if (value > limit) {
      return absl::DataLossError(
          absl::StrCat("a node control frame of ", value, " bytes exceeds ", limit));
    }
  }
  return std::optional<size_t>();
}

absl::Status Malformed(const Message& message, absl::string_view what) {
  return absl::DataLossError(absl::StrCat("malformed '", message.verb, "' message: ", what));
}

absl::StatusOr<int> IntField(const Message& message, size_t index, absl::string_view name) {
  int value = 0;
  if (index >= message.args.size() || !absl::SimpleAtoi(message.args[index], &value)) {
    return Malformed(message, absl::StrCat(name, " is not a number"));
  }
  return value;
}

absl::StatusOr<uint64_t> IdField(const Message& message) {
  uint64_t id = 0;
  if (message.args.empty() || !absl::SimpleAtoi(message.args[0], &id)) {
    return Malformed(message, "no call id");
  }
  return id;
}

}  // namespace

std::string EncodeFrame(const Message& message) {
  std::string payload;
  AppendField(payload, message.verb);
  for (const std::string& arg : message.args) AppendField(payload, arg);
  return absl::StrCat(payload.size(), ":", payload);
}

absl::StatusOr<std::optional<Message>> FrameDecoder::Next() {
  size_t at = offset_;
  ASSIGN_OR_RETURN(std::optional<size_t> length, ReadLength(buffer_, at, kMaxFrameBytes));
  if (!length.has_value() || buffer_.size() - at < *length) return std::optional<Message>();
  const absl::string_view payload = absl::string_view(buffer_).substr(at, *length);
  std::vector<std::string> fields;
  for (size_t pos = 0; pos < payload.size();) {
    ASSIGN_OR_RETURN(std::optional<size_t> field, ReadLength(payload, pos, payload.size()));
    if (!field.has_value() || payload.size() - pos < *field) {
      return absl::DataLossError("a node control frame ends inside a field");
    }
    fields.emplace_back(payload.substr(pos, *field));
    pos += *field;
  }
  if (fields.empty()) return absl::DataLossError("a node control frame without a verb");
  offset_ = at + *length;
  if (offset_ == buffer_.size()) {
    buffer_.clear();
    offset_ = 0;
  } else if (offset_ > (1u << 16)) {
    buffer_.erase(0, offset_);
    offset_ = 0;
  }
  Message message;
  message.verb = std::move(fields.front());
  message.args.assign(std::make_move_iterator(fields.begin() + 1),
                      std::make_move_iterator(fields.end()));
  return std::optional<Message>(std::move(message));
}

// ---- hello ---------------------------------------------------------------------

Message EncodeHello(const Hello& hello) {
  const session::JobInfo& job = hello.job;
  return {"hello",
          {absl::StrCat(hello.rank), job.kvsname, absl::StrCat(job.size),
           absl::StrCat(job.universe_size), absl::StrCat(job.appnum),
           job.process_mapping.has_value() ? "1" : "0", job.process_mapping.value_or(""),
           absl::StrCat(job.limits.kvsname_max), absl::StrCat(job.limits.keylen_max),
           absl::StrCat(job.limits.vallen_max), absl::StrJoin(hello.node_of_rank, ",")}};
}

absl::StatusOr<Hello> DecodeHello(const Message& message) {
  if (message.verb != "hello" || message.args.size() != 11) {
    return Malformed(message, "expected 11 fields");
  }
  Hello hello;
  session::JobInfo& job = hello.job;
  ASSIGN_OR_RETURN(hello.rank, IntField(message, 0, "rank"));
  job.kvsname = message.args[1];
  ASSIGN_OR_RETURN(job.size, IntField(message, 2, "size"));
  ASSIGN_OR_RETURN(job.universe_size, IntField(message, 3, "universe size"));
  ASSIGN_OR_RETURN(job.appnum, IntField(message, 4, "appnum"));
  if (message.args[5] == "1") job.process_mapping = message.args[6];
  ASSIGN_OR_RETURN(job.limits.kvsname_max, IntField(message, 7, "kvsname_max"));
  ASSIGN_OR_RETURN(job.limits.keylen_max, IntField(message, 8, "keylen_max"));
  ASSIGN_OR_RETURN(job.limits.vallen_max, IntField(message, 9, "vallen_max"));
  if (job.size < 1 || hello.rank < 0 || hello.rank >= job.size) {
    return Malformed(message, absl::StrCat("rank ", hello.rank, " of ", job.size));
  }
  for (absl::string_view id : absl::StrSplit(message.args[10], ',')) {
    int node = -1;
    if (!absl::SimpleAtoi(id, &node) || node < 0) return Malformed(message, "bad node list");
    hello.node_of_rank.push_back(node);
  }
  if (static_cast<int>(hello.node_of_rank.size()) != job.size) {
    return Malformed(message,
                     absl::StrCat(hello.node_of_rank.size(), " nodes for ", job.size, " ranks"));
  }
  return hello;
}

// ---- call / reply ----------------------------------------------------------------

Message EncodeCall(const Call& call) {
  const std::string id = absl::StrCat(call.id);
  switch (call.op) {
    case CallOp::kPut:
      return {"call", {id, "put", call.key, call.value}};
    case CallOp::kGet:
      return {"call", {id, "get", call.key}};
    case CallOp::kBarrier:
      return {"call", {id, "barrier"}};
  }
  return {"call", {id, "barrier"}};
}

absl::StatusOr<Call> DecodeCall(const Message& message) {
  if (message.verb != "call" || message.args.size() < 2) return Malformed(message, "too short");
  Call call;
  ASSIGN_OR_RETURN(call.id, IdField(message));
  const std::string& op = message.args[1];
  if (op == "put" && message.args.size() == 4) {
    call.op = CallOp::kPut;
    call.key = message.args[2];
    call.value = message.args[3];
  } else if (op == "get" && message.args.size() == 3) {
    call.op = CallOp::kGet;
    call.key = message.args[2];
  } else if (op == "barrier" && message.args.size() == 2) {
    call.op = CallOp::kBarrier;
  } else {
    return Malformed(message, absl::StrCat("unknown call '", op, "'"));
  }
  return call;
}

Message EncodeReply(const Reply& reply) {
  return {"reply",
          {absl::StrCat(reply.id), absl::StrCat(static_cast<int>(reply.status.code())),
           std::string(reply.status.message()), reply.value}};
}

absl::StatusOr<Reply> DecodeReply(const Message& message) {
  if (message.verb != "reply" || message.args.size() != 4) {
    return Malformed(message, "expected 4 fields");
  }
  Reply reply;
  ASSIGN_OR_RETURN(reply.id, IdField(message));
  ASSIGN_OR_RETURN(int code, IntField(message, 1, "status code"));
  if (code < 0 || code > static_cast<int>(absl::StatusCode::kUnauthenticated)) {
    return Malformed(message, absl::StrCat("status code ", code));
  }
  reply.status = absl::Status(static_cast<absl::StatusCode>(code), message.args[2]);
  reply.value = message.args[3];
  return reply;
}

// ---- notices ------------------------------------------------------------------------

Message EncodeNotice(const Notice& notice) {
  switch (notice.kind) {
    case NoticeKind::kClaimed:
      return {"tell", {"claimed"}};
    case NoticeKind::kFinalized:
      return {"tell", {"finalized"}};
    case NoticeKind::kAbort:
      return {"tell", {"abort", absl::StrCat(notice.code), notice.text}};
    case NoticeKind::kLost:
      return {"tell", {"lost", notice.text}};
  }
  return {"tell", {"lost", notice.text}};
}

absl::StatusOr<Notice> DecodeNotice(const Message& message) {
  if (message.verb != "tell" || message.args.empty()) return Malformed(message, "too short");
  Notice notice;
  const std::string& kind = message.args[0];
  if (kind == "claimed" && message.args.size() == 1) {
    notice.kind = NoticeKind::kClaimed;
  } else if (kind == "finalized" && message.args.size() == 1) {
    notice.kind = NoticeKind::kFinalized;
  } else if (kind == "abort" && message.args.size() == 3) {
    notice.kind = NoticeKind::kAbort;
    ASSIGN_OR_RETURN(notice.code, IntField(message, 1, "exit code"));
    notice.text = message.args[2];
  } else if (kind == "lost" && message.args.size() == 2) {
    notice.kind = NoticeKind::kLost;
    notice.text = message.args[1];
  } else {
    return Malformed(message, absl::StrCat("unknown notice '", kind, "'"));
  }
  return notice;
}

}  // namespace pmi_shim::node
