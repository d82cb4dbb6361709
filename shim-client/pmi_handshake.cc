#include "shim-client/pmi_handshake.h"

#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "bridge/wire/frame_decoder.h"
#include "bridge/wire/pmi1.h"
#include "bridge/wire/pmi2.h"
#include "common/status_macros.h"

namespace pmi_shim::shim_client {
namespace {

// One request/reply exchange at a time over a blocking socket.
class Conversation {
 public:
  Conversation(int fd, absl::Duration timeout) : fd_(fd), timeout_(timeout) {}

  absl::Status Send(const std::string& bytes) {
    size_t done = 0;
    while (done < bytes.size()) {
      const ssize_t n = ::send(fd_, bytes.data() + done, bytes.size() - done, MSG_NOSIGNAL);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) return absl::ErrnoToStatus(errno, "sending to the PMI server");
      done += static_cast<size_t>(n);
    }
    return absl::OkStatus();
  }

  absl::StatusOr<wire::Message> Receive() {
    const absl::Time deadline = absl::Now() + timeout_;
    while (true) {
      absl::StatusOr<std::optional<wire::Frame>> frame = decoder_.Next();
      if (!frame.ok()) return frame.status();
      if (frame->has_value()) return wire::ParseFrame(**frame);
      const absl::Duration left = deadline - absl::Now();
      if (left <= absl::ZeroDuration()) {
        return absl::DeadlineExceededError(absl::StrCat(
            "the PMI server sent no reply within ", absl::FormatDuration(timeout_)));
      }
      pollfd p{fd_, POLLIN, 0};
      const int ready = ::poll(&p, 1, static_cast<int>(absl::ToInt64Milliseconds(left)) + 1);
      if (ready < 0 && errno == EINTR) continue;
      if (ready < 0) return absl::ErrnoToStatus(errno, "poll");
      if (ready == 0) continue;
      char buffer[4096];
      const ssize_t n = ::read(fd_, buffer, sizeof(buffer));
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) return absl::ErrnoToStatus(errno, "reading from the PMI server");
      if (n == 0) return absl::UnavailableError("the PMI server closed the connection");
      decoder_.Feed(absl::string_view(buffer, static_cast<size_t>(n)));
    }
  }

  absl::StatusOr<wire::Message> Ask(const std::string& request, absl::string_view reply_name) {
    RETURN_IF_ERROR(Send(request));
    ASSIGN_OR_RETURN(wire::Message reply, Receive());
    RETURN_IF_ERROR(ExpectReply(reply, reply_name));
    return reply;
  }

 private:
  int fd_;
  absl::Duration timeout_;
  wire::FrameDecoder decoder_;
};

std::optional<int> IntField(const wire::Message& message, absl::string_view key) {
  std::optional<int64_t> value = message.FindInt(key);
  if (!value.has_value()) return std::nullopt;
  return static_cast<int>(*value);
}

absl::Status ReadVersion(const wire::Message& reply, int want_version, HandshakeReport& report) {
  std::optional<int> version = IntField(reply, "pmi_version");
  std::optional<int> subversion = IntField(reply, "pmi_subversion");
  if (!version.has_value() || *version != want_version) {
    return absl::FailedPreconditionError(absl::StrCat(
        "the server does not speak PMI-", want_version, ": ", reply.DebugString()));
  }
  report.version = *version;
  report.subversion = subversion.value_or(0);
  return absl::OkStatus();
}

}  // namespace

std::string HandshakeReport::WireName() const {
  return absl::StrCat("PMI-", version, " (wire ", version, ".", subversion, ")");
}

absl::Status ExpectReply(const wire::Message& reply, absl::string_view command) {
  if (reply.command != command) {
    return absl::FailedPreconditionError(
        absl::StrCat("expected cmd=", command, " from the PMI server, got ", reply.DebugString()));
  }
  std::optional<int64_t> rc = reply.FindInt("rc");
  if (reply.Has("rc") && (!rc.has_value() || *rc != 0)) {
    return absl::FailedPreconditionError(
        absl::StrCat("the PMI server refused (", reply.DebugString(), ")"));
  }
  return absl::OkStatus();
}

absl::StatusOr<HandshakeReport> HandshakePmi1(int fd, absl::Duration timeout) {
  Conversation talk(fd, timeout);
  HandshakeReport report;
  ASSIGN_OR_RETURN(wire::Message init,
                   talk.Ask("cmd=init pmi_version=1 pmi_subversion=1\n", "response_to_init"));
  RETURN_IF_ERROR(ReadVersion(init, 1, report));
  ASSIGN_OR_RETURN(wire::Message maxes, talk.Ask("cmd=get_maxes\n", "maxes"));
  report.kvsname_max = IntField(maxes, "kvsname_max");
  report.keylen_max = IntField(maxes, "keylen_max");
  report.vallen_max = IntField(maxes, "vallen_max");
  ASSIGN_OR_RETURN(wire::Message kvs, talk.Ask("cmd=get_my_kvsname\n", "my_kvsname"));
  report.kvsname = std::string(kvs.Find("kvsname").value_or(""));
  ASSIGN_OR_RETURN(wire::Message universe, talk.Ask("cmd=get_universe_size\n", "universe_size"));
  report.size = IntField(universe, "size");
  ASSIGN_OR_RETURN(wire::Message appnum, talk.Ask("cmd=get_appnum\n", "appnum"));
  report.appnum = IntField(appnum, "appnum");
  return report;
}

absl::StatusOr<HandshakeReport> HandshakePmi2(int fd, int rank, const std::string& jobid,
                                              absl::Duration timeout) {
  Conversation talk(fd, timeout);
  HandshakeReport report;
  ASSIGN_OR_RETURN(wire::Message init,
                   talk.Ask("cmd=init pmi_version=2 pmi_subversion=0\n", "response_to_init"));
  RETURN_IF_ERROR(ReadVersion(init, 2, report));
  wire::Message fullinit("fullinit");
  if (!jobid.empty()) fullinit.Add("pmijobid", jobid);
  if (rank >= 0) fullinit.Add("pmirank", rank);
  fullinit.Add("threaded", "FALSE");
  ASSIGN_OR_RETURN(wire::Message full, talk.Ask(wire::FormatPmi2(fullinit), "fullinit-response"));
  report.rank = IntField(full, "rank");
  report.size = IntField(full, "size");
  report.appnum = IntField(full, "appnum");
  ASSIGN_OR_RETURN(wire::Message job,
                   talk.Ask(wire::FormatPmi2(wire::Message("job-getid")), "job-getid-response"));
  report.kvsname = std::string(job.Find("jobid").value_or(""));
  return report;
}

}  // namespace pmi_shim::shim_client
