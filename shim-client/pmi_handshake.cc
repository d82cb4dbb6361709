#include "shim-client/pmi_handshake.h"

#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "protocol/pmi/call_channel.h"

namespace pmi_shim::shim_client {
namespace {

// One request/reply exchange at a time; every reply must come within
// `timeout` of its request.
wire::CallChannel Channel(int fd, absl::Duration timeout) {
  wire::CallChannel::Options options;
  options.reply_timeout = timeout;
  return wire::CallChannel(fd, std::move(options));
}

// The reply to `request`, which must be the table's and carry rc=0 (or none).
absl::StatusOr<wire::Message> Ask(wire::CallChannel& channel, const wire::Message& request,
                                  wire::Framing framing) {
  ASSIGN_OR_RETURN(wire::Message reply, channel.Call(request, framing));
  RETURN_IF_ERROR(ExpectReply(reply, reply.command));
  return reply;
}

absl::StatusOr<wire::Message> AskPmi1(wire::CallChannel& channel, absl::string_view command) {
  return Ask(channel, wire::Message(command), wire::Framing::kPmi1Line);
}

std::optional<int> IntField(const wire::Message& message, absl::string_view key) {
  std::optional<int64_t> value = message.FindInt(key);
  if (!value.has_value()) return std::nullopt;
  return static_cast<int>(*value);
}

absl::Status ReadVersion(const wire::Message& reply, int want_version, HandshakeReport& report) {
  std::optional<int> version = IntField(reply, "pmi_version");
  std::optional<int> subversion = IntField(reply, "pmi_subversion");
  if (!version.has_value() || *version != want_version) {
    return absl::FailedPreconditionError(
        absl::StrCat("the server does not speak PMI-", want_version, ": ", reply.DebugString()));
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
  wire::CallChannel channel = Channel(fd, timeout);
  HandshakeReport report;
  ASSIGN_OR_RETURN(wire::Message init, channel.Init(wire::PmiVersion::kPmi1));
  RETURN_IF_ERROR(ExpectReply(init, init.command));
  RETURN_IF_ERROR(ReadVersion(init, 1, report));
  ASSIGN_OR_RETURN(wire::Message maxes, AskPmi1(channel, "get_maxes"));
  report.kvsname_max = IntField(maxes, "kvsname_max");
  report.keylen_max = IntField(maxes, "keylen_max");
  report.vallen_max = IntField(maxes, "vallen_max");
  ASSIGN_OR_RETURN(wire::Message kvs, AskPmi1(channel, "get_my_kvsname"));
  report.kvsname = std::string(kvs.Find("kvsname").value_or(""));
  ASSIGN_OR_RETURN(wire::Message universe, AskPmi1(channel, "get_universe_size"));
  report.size = IntField(universe, "size");
  ASSIGN_OR_RETURN(wire::Message appnum, AskPmi1(channel, "get_appnum"));
  report.appnum = IntField(appnum, "appnum");
  return report;
}

absl::StatusOr<HandshakeReport> HandshakePmi2(int fd, int rank, const std::string& jobid,
                                              absl::Duration timeout) {
  wire::CallChannel channel = Channel(fd, timeout);
  HandshakeReport report;
  ASSIGN_OR_RETURN(wire::Message init, channel.Init(wire::PmiVersion::kPmi2));
  RETURN_IF_ERROR(ExpectReply(init, init.command));
  RETURN_IF_ERROR(ReadVersion(init, 2, report));
  wire::Message fullinit("fullinit");
  if (!jobid.empty()) fullinit.Add("pmijobid", jobid);
  if (rank >= 0) fullinit.Add("pmirank", rank);
  fullinit.Add("threaded", "FALSE");
  ASSIGN_OR_RETURN(wire::Message full, Ask(channel, fullinit, wire::Framing::kPmi2Record));
  report.rank = IntField(full, "rank");
  report.size = IntField(full, "size");
  report.appnum = IntField(full, "appnum");
  ASSIGN_OR_RETURN(wire::Message job,
                   Ask(channel, wire::Message("job-getid"), wire::Framing::kPmi2Record));
  report.kvsname = std::string(job.Find("jobid").value_or(""));
  return report;
}

}  // namespace pmi_shim::shim_client
