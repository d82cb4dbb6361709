#include "bridge/node/member_session.h"

#include <utility>

#include "absl/strings/str_cat.h"

namespace pmi_shim::node {

MemberSession::MemberSession(session::JobHost& host, int rank, std::vector<int> node_of_rank,
                             std::function<void(const Message&)> send, Events events)
    : host_(host),
      rank_(rank),
      node_of_rank_(std::move(node_of_rank)),
      send_(std::move(send)),
      events_(std::move(events)) {}

MemberSession::~MemberSession() { *alive_ = false; }

void MemberSession::Join() { send_(EncodeHello(Hello{rank_, host_.info(), node_of_rank_})); }

void MemberSession::Exited(const std::string& how) {
  exited_ = true;
  send_({"exited", {how}});
}

void MemberSession::Leave() { send_({"leave", {}}); }

absl::Status MemberSession::OnMessage(const Message& message) {
  if (message.verb == "welcome" && !welcomed_) {
    welcomed_ = true;
    events_.welcome(message.args);
    return absl::OkStatus();
  }
  if (message.verb == "refused" && !welcomed_ && message.args.size() == 1) {
    welcomed_ = true;
    events_.welcome(absl::FailedPreconditionError(
        absl::StrCat("the node's PMIx server refused rank ", rank_, ": ", message.args[0])));
    return absl::OkStatus();
  }
  if (message.verb == "call") {
    absl::StatusOr<Call> call = DecodeCall(message);
    if (!call.ok()) return call.status();
    RunCall(*call);
    return absl::OkStatus();
  }
  if (message.verb == "tell") {
    absl::StatusOr<Notice> notice = DecodeNotice(message);
    if (!notice.ok()) return notice.status();
    switch (notice->kind) {
      case NoticeKind::kClaimed:
        client_spoke_ = true;
        break;
      case NoticeKind::kFinalized:
        host_.Finalized(rank_);
        break;
      case NoticeKind::kAbort:
        host_.Abort(rank_, notice->code, std::move(notice->text));
        break;
      case NoticeKind::kLost:
        host_.Lost(rank_, std::move(notice->text));
        break;
    }
    return absl::OkStatus();
  }
  if (message.verb == "bye") {
    events_.bye();
    return absl::OkStatus();
  }
  return absl::DataLossError(
      absl::StrCat("unexpected '", message.verb, "' message from the node's PMIx server"));
}

void MemberSession::RunCall(const Call& call) {
  const uint64_t id = call.id;
  auto answer = [alive = std::weak_ptr<bool>(alive_), send = send_, id](absl::Status status,
                                                                        std::string value) {
    if (alive.expired()) return;
    send(EncodeReply(Reply{id, std::move(status), std::move(value)}));
  };
  switch (call.op) {
    case CallOp::kPut:
      host_.Put(rank_, call.key, call.value,
                [answer](absl::Status status) { answer(std::move(status), ""); });
      return;
    case CallOp::kGet:
      host_.Get(rank_, call.key, [answer](absl::StatusOr<std::string> value) {
        if (value.ok()) {
          answer(absl::OkStatus(), *std::move(value));
        } else {
          answer(value.status(), "");
        }
      });
      return;
    case CallOp::kBarrier:
      if (exited_ || (events_.rank_alive && !events_.rank_alive())) {
        answer(absl::UnavailableError(
                   absl::StrCat("rank ", rank_, "'s command has ended; it enters no barrier")),
               "");
        return;
      }
      host_.Barrier(rank_, [answer](absl::Status status) { answer(std::move(status), ""); });
      return;
  }
}

}  // namespace pmi_shim::node
