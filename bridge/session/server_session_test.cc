// Drives ServerSession with raw client bytes against a real EmbeddedHost and
// checks the replies as a client library would read them.
#include "bridge/session/server_session.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "bridge/upstream/embedded_host.h"
#include "protocol/pmi/frame_decoder.h"
#include "protocol/pmi/pmi2.h"
#include "test/testing/status_matchers.h"

namespace pmi_shim::session {
namespace {

using ::testing::HasSubstr;
using wire::Message;

session::JobInfo TestJob(int size) {
  session::JobInfo info;
  info.kvsname = "kvs_test_0";
  info.size = size;
  info.universe_size = size;
  info.process_mapping = absl::StrCat("(vector,(0,1,", size, "))");
  return info;
}

// One client connection: bytes in through a FrameDecoder, replies decoded.
class FakeClient {
 public:
  FakeClient(JobHost& host, std::optional<int> rank, bool release_if_only_looked = false) {
    SessionOptions options;
    options.rank = rank;
    options.release_if_only_looked = release_if_only_looked;
    options.peer = "client at 127.0.0.1:1234";
    SessionCallbacks callbacks;
    callbacks.send = [this](std::string bytes) { replies_decoder_.Feed(bytes); };
    callbacks.warn = [this](absl::string_view problem) { warnings.emplace_back(problem); };
    callbacks.fail = [this](absl::string_view reason) { failures.emplace_back(reason); };
    session = ServerSession::Create(host, options, callbacks);
  }

  // Sends raw bytes; returns the first error HandleFrame reported.
  absl::Status Send(absl::string_view bytes) {
    decoder_.Feed(bytes);
    while (true) {
      auto frame = decoder_.Next();
      if (!frame.ok()) return frame.status();
      if (!frame->has_value()) return absl::OkStatus();
      absl::Status status = session->HandleFrame(**frame);
      if (!status.ok()) return status;
    }
  }
  absl::Status SendPmi2(absl::string_view payload) {
    return Send(absl::StrCat(absl::StrFormat("%6zu", payload.size()), payload));
  }

  // Every reply received since the last call.
  std::vector<Message> Replies() {
    std::vector<Message> out;
    while (true) {
      auto frame = replies_decoder_.Next();
      EXPECT_OK(frame);
      if (!frame.ok() || !frame->has_value()) return out;
      auto message = wire::ParseFrame(**frame);
      EXPECT_OK(message);
      if (message.ok()) out.push_back(*message);
    }
  }
  Message OnlyReply() {
    std::vector<Message> replies = Replies();
    EXPECT_EQ(replies.size(), 1u);
    return replies.empty() ? Message("none") : replies[0];
  }

  std::shared_ptr<ServerSession> session;
  std::vector<std::string> warnings;
  std::vector<std::string> failures;

 private:
  wire::FrameDecoder decoder_;
  wire::FrameDecoder replies_decoder_;
};

struct HostEvents {
  int aborted_rank = -2, abort_code = 0, lost_rank = -2;
  std::string abort_message, lost_reason;
};

std::unique_ptr<upstream::EmbeddedHost> MakeHost(int size, HostEvents& events) {
  upstream::EmbeddedHost::Events callbacks;
  callbacks.abort = [&events](int rank, int code, const std::string& message) {
    events.aborted_rank = rank;
    events.abort_code = code;
    events.abort_message = message;
  };
  callbacks.lost = [&events](int rank, const std::string& reason) {
    events.lost_rank = rank;
    events.lost_reason = reason;
  };
  return std::make_unique<upstream::EmbeddedHost>(TestJob(size), callbacks);
}

TEST(ServerSessionPmi1Test, FullExchangeBetweenTwoRanks) {
  HostEvents events;
  auto host = MakeHost(2, events);
  FakeClient r0(*host, 0), r1(*host, 1);
  for (FakeClient* c : {&r0, &r1}) {
    ASSERT_OK(c->Send("cmd=init pmi_version=1 pmi_subversion=1\n"));
    Message init = c->OnlyReply();
    EXPECT_EQ(init.command, "response_to_init");
    EXPECT_EQ(init.Find("rc"), "0");  // MPICH-3 clients require a literal rc=0
    EXPECT_EQ(init.Find("pmi_subversion"), "1");
  }
  ASSERT_OK(r0.Send("cmd=get_maxes\ncmd=get_my_kvsname\ncmd=get_appnum\n"));
  std::vector<Message> r = r0.Replies();
  ASSERT_EQ(r.size(), 3u);
  EXPECT_EQ(r[0].command, "maxes");
  EXPECT_EQ(r[0].Find("vallen_max"), "1024");
  EXPECT_EQ(r[1].Find("kvsname"), "kvs_test_0");
  EXPECT_EQ(r[2].Find("appnum"), "0");

  ASSERT_OK(r0.Send("cmd=put kvsname=kvs_test_0 key=bc-0 value=a=b\n"));
  EXPECT_EQ(r0.OnlyReply().Find("rc"), "0");
  ASSERT_OK(r0.Send("cmd=barrier_in\n"));
  EXPECT_TRUE(r0.Replies().empty()) << "barrier_out before every rank entered";
  ASSERT_OK(r1.Send("cmd=barrier_in\n"));
  EXPECT_EQ(r0.OnlyReply().command, "barrier_out");
  EXPECT_EQ(r1.OnlyReply().Find("rc"), "0");

  ASSERT_OK(r1.Send("cmd=get kvsname=kvs_test_0 key=bc-0\n"));
  Message got = r1.OnlyReply();
  EXPECT_EQ(got.Find("rc"), "0");
  EXPECT_EQ(got.Find("value"), "a=b");
  ASSERT_OK(r1.Send("cmd=get kvsname=kvs_test_0 key=nothing\n"));
  EXPECT_NE(r1.OnlyReply().Find("rc"), "0");
  ASSERT_OK(r1.Send("cmd=finalize\n"));
  EXPECT_EQ(r1.OnlyReply().command, "finalize_ack");
  r1.session->Close("closed");
  EXPECT_EQ(events.lost_rank, -2) << "a finalized client may close";
  r0.session->Close("closed its PMI connection");
  EXPECT_EQ(events.lost_rank, 0);
}

TEST(ServerSessionPmi1Test, PortHandshakeNamesTheRank) {
  HostEvents events;
  auto host = MakeHost(4, events);
  FakeClient client(*host, std::nullopt);
  ASSERT_OK(client.Send("cmd=initack pmiid=2\n"));
  std::vector<Message> r = client.Replies();
  ASSERT_EQ(r.size(), 4u);
  EXPECT_EQ(r[0].command, "initack");
  EXPECT_EQ(r[1].Find("size"), "4");
  EXPECT_EQ(r[2].Find("rank"), "2");
  EXPECT_EQ(r[3].Find("debug"), "0");
  EXPECT_EQ(client.session->rank(), 2);
  ASSERT_OK(client.Send("cmd=init pmi_version=1 pmi_subversion=1\n"));
  EXPECT_EQ(client.OnlyReply().Find("rc"), "0");
}

TEST(ServerSessionPmi1Test, SocketClientWithoutInitackIsRefused) {
  HostEvents events;
  auto host = MakeHost(2, events);
  FakeClient client(*host, std::nullopt);
  absl::Status status = client.Send("cmd=init pmi_version=1 pmi_subversion=1\n");
  EXPECT_THAT(std::string(status.message()), HasSubstr("initack"));
}

TEST(ServerSessionPmi1Test, TwoClientsCannotBeTheSameRank) {
  HostEvents events;
  auto host = MakeHost(2, events);
  FakeClient a(*host, std::nullopt), b(*host, std::nullopt);
  ASSERT_OK(a.Send("cmd=initack pmiid=1\n"));
  absl::Status status = b.Send("cmd=initack pmiid=1\n");
  EXPECT_THAT(std::string(status.message()), HasSubstr("already connected"));
  EXPECT_THAT(std::string(b.Send("cmd=initack pmiid=7\n").message()), HasSubstr("7"));
}

// A container's rank socket: `pmi-shim-client check` handshakes and hangs
// up, then the application connects as the same rank.
TEST(ServerSessionPmi1Test, ClientThatOnlyLookedReleasesItsRank) {
  HostEvents events;
  auto host = MakeHost(2, events);
  {
    FakeClient check(*host, 1, /*release_if_only_looked=*/true);
    ASSERT_OK(
        check.Send("cmd=init pmi_version=1 pmi_subversion=1\ncmd=get_maxes\n"
                   "cmd=get_my_kvsname\n"));
    EXPECT_FALSE(check.session->Close("hung up"));
  }
  EXPECT_EQ(events.lost_rank, -2) << events.lost_reason;
  FakeClient app(*host, 1, /*release_if_only_looked=*/true);
  ASSERT_OK(app.Send("cmd=init pmi_version=1 pmi_subversion=1\n"));
  ASSERT_OK(app.Send("cmd=put kvsname=kvs_test_0 key=k value=v\n"));
  // Once it changed the job, hanging up is a loss like any other.
  EXPECT_TRUE(app.session->Close("crashed"));
  EXPECT_EQ(events.lost_rank, 1);
}

TEST(ServerSessionPmi1Test, LookingOnlyIsStillALossWithoutTheOption) {
  HostEvents events;
  auto host = MakeHost(2, events);
  FakeClient client(*host, 0);
  ASSERT_OK(client.Send("cmd=init pmi_version=1 pmi_subversion=1\n"));
  EXPECT_TRUE(client.session->Close("hung up"));
  EXPECT_EQ(events.lost_rank, 0);
}

TEST(ServerSessionPmi1Test, RecoverableMistakesGetAnErrorReplyAndAWarning) {
  HostEvents events;
  auto host = MakeHost(1, events);
  FakeClient client(*host, 0);
  ASSERT_OK(client.Send("cmd=put kvsname=k key=a value=b\n"));
  Message early = client.OnlyReply();
  EXPECT_EQ(early.command, "put_result");
  EXPECT_NE(early.Find("rc"), "0");
  ASSERT_EQ(client.warnings.size(), 1u);
  EXPECT_THAT(client.warnings[0], HasSubstr("rank 0: \"put\" before init"));

  ASSERT_OK(client.Send("cmd=init pmi_version=1 pmi_subversion=1\n"));
  client.Replies();
  ASSERT_OK(client.Send("cmd=init pmi_version=1 pmi_subversion=1\n"));
  EXPECT_NE(client.OnlyReply().Find("rc"), "0");
  EXPECT_THAT(client.warnings.back(), HasSubstr("already initialized"));

  ASSERT_OK(
      client.Send(absl::StrCat("cmd=put kvsname=k key=big value=", std::string(1025, 'x'), "\n")));
  EXPECT_EQ(client.OnlyReply().Find("rc"), "7");  // PMI_ERR_INVALID_VAL_LENGTH
  EXPECT_THAT(client.warnings.back(), HasSubstr("too long"));
  ASSERT_OK(
      client.Send(absl::StrCat("cmd=put kvsname=k key=ok value=", std::string(1024, 'x'), "\n")));
  EXPECT_EQ(client.OnlyReply().Find("rc"), "0") << "a value at the advertised limit is fine";

  ASSERT_OK(client.Send("cmd=lookup_name service=x\n"));
  Message lookup = client.OnlyReply();
  EXPECT_EQ(lookup.command, "lookup_result");
  EXPECT_NE(lookup.Find("rc"), "0");
  EXPECT_EQ(events.lost_rank, -2);
}

TEST(ServerSessionPmi1Test, UnknownCommandAndGarbageEndTheSession) {
  HostEvents events;
  auto host = MakeHost(1, events);
  FakeClient client(*host, 0);
  ASSERT_OK(client.Send("cmd=init pmi_version=1 pmi_subversion=1\n"));
  EXPECT_THAT(std::string(client.Send("cmd=frobnicate\n").message()),
              HasSubstr("rank 0: unknown command \"frobnicate\""));
  FakeClient other(*host, 0);
  EXPECT_THAT(std::string(other.Send("cmd= key\n").message()), HasSubstr("malformed"));
}

TEST(ServerSessionPmi1Test, AbortCarriesCodeAndMessageAndIsNotALoss) {
  HostEvents events;
  auto host = MakeHost(2, events);
  FakeClient client(*host, 1);
  ASSERT_OK(client.Send("cmd=init pmi_version=1 pmi_subversion=1\n"));
  client.Replies();
  ASSERT_OK(client.Send("cmd=abort exitcode=7 message=disk full on /scratch\n"));
  EXPECT_TRUE(client.Replies().empty()) << "abort has no reply";
  EXPECT_EQ(events.aborted_rank, 1);
  EXPECT_EQ(events.abort_code, 7);
  EXPECT_EQ(events.abort_message, "disk full on /scratch");
  client.session->Close("closed");
  EXPECT_EQ(events.lost_rank, -2);
}

TEST(ServerSessionPmi1Test, RequestsQueuedBehindABarrierAreAnsweredInOrder) {
  HostEvents events;
  auto host = MakeHost(2, events);
  FakeClient r0(*host, 0), r1(*host, 1);
  for (FakeClient* c : {&r0, &r1}) {
    ASSERT_OK(c->Send("cmd=init pmi_version=1 pmi_subversion=1\n"));
    c->Replies();
  }
  // A pipelining client: the get must not overtake barrier_out.
  ASSERT_OK(r0.Send("cmd=barrier_in\ncmd=get kvsname=k key=late\n"));
  EXPECT_TRUE(r0.Replies().empty());
  ASSERT_OK(r1.Send("cmd=put kvsname=k key=late value=v\ncmd=barrier_in\n"));
  std::vector<Message> r = r0.Replies();
  ASSERT_EQ(r.size(), 2u);
  EXPECT_EQ(r[0].command, "barrier_out");
  EXPECT_EQ(r[1].command, "get_result");
  EXPECT_EQ(r[1].Find("value"), "v");
}

TEST(ServerSessionPmi2Test, SlurmStyleClientOverPort) {
  HostEvents events;
  auto host = MakeHost(2, events);
  FakeClient r0(*host, std::nullopt), r1(*host, 1);
  ASSERT_OK(r0.Send("cmd=init pmi_version=2 pmi_subversion=0\n"));
  EXPECT_EQ(r0.OnlyReply().Find("pmi_version"), "2");
  // Slurm's libpmi2 in PMI_PORT mode names itself with srcid.
  ASSERT_OK(r0.SendPmi2("cmd=fullinit;srcid=0;threaded=FALSE;"));
  Message full = r0.OnlyReply();
  EXPECT_EQ(full.command, "fullinit-response");
  for (const char* key : {"rc", "pmi-version", "pmi-subversion", "rank", "size", "appnum",
                          "debugged", "pmiverbose"}) {
    EXPECT_TRUE(full.Has(key)) << key << " is required by MPICH-3/Slurm clients";
  }
  EXPECT_EQ(full.Find("size"), "2");
  EXPECT_EQ(r0.session->rank(), 0);

  ASSERT_OK(r1.Send("cmd=init pmi_version=2 pmi_subversion=0\n"));
  r1.Replies();
  ASSERT_OK(r1.SendPmi2("cmd=fullinit;pmijobid=1.0;pmirank=1;threaded=FALSE;"));
  EXPECT_EQ(r1.OnlyReply().Find("rank"), "1");

  ASSERT_OK(r0.SendPmi2("cmd=kvs-put;key=k0;value=v;;0;"));  // ";;" is one ';'
  EXPECT_EQ(r0.OnlyReply().Find("rc"), "0");
  ASSERT_OK(r0.SendPmi2("cmd=kvs-fence;"));
  EXPECT_TRUE(r0.Replies().empty()) << "Slurm-style fence waits for every rank";
  ASSERT_OK(r1.SendPmi2("cmd=kvs-fence;thrid=0x7f;"));
  EXPECT_EQ(r0.OnlyReply().command, "kvs-fence-response");
  EXPECT_EQ(r1.OnlyReply().Find("thrid"), "0x7f") << "thrid must be echoed";

  ASSERT_OK(r1.SendPmi2("cmd=kvs-get;jobid=kvs_test_0;srcid=-1;key=k0;"));
  Message got = r1.OnlyReply();
  EXPECT_EQ(got.Find("found"), "TRUE");
  EXPECT_EQ(got.Find("value"), "v;0");
  ASSERT_OK(r1.SendPmi2("cmd=kvs-get;key=-NONEXIST-KEY;"));
  Message missing = r1.OnlyReply();
  EXPECT_EQ(missing.Find("rc"), "0");
  EXPECT_EQ(missing.Find("found"), "FALSE");

  ASSERT_OK(r1.SendPmi2("cmd=info-getjobattr;key=PMI_process_mapping;"));
  EXPECT_EQ(r1.OnlyReply().Find("value"), "(vector,(0,1,2))");
  ASSERT_OK(r1.SendPmi2("cmd=job-getid;"));
  EXPECT_EQ(r1.OnlyReply().Find("jobid"), "kvs_test_0");
  ASSERT_OK(r1.SendPmi2("cmd=abort;isworld=TRUE;msg=bye;"));
  EXPECT_EQ(events.aborted_rank, 1);
  EXPECT_EQ(events.abort_code, 1) << "PMI-2 aborts without exitcode mean 1";
  EXPECT_EQ(events.abort_message, "bye");
}

TEST(ServerSessionPmi2Test, FullinitForAnotherRankThanTheFdIsRefused) {
  HostEvents events;
  auto host = MakeHost(2, events);
  FakeClient client(*host, 0);
  ASSERT_OK(client.Send("cmd=init pmi_version=2 pmi_subversion=0\n"));
  EXPECT_THAT(std::string(client.SendPmi2("cmd=fullinit;pmirank=1;").message()),
              HasSubstr("(PMI_FD or rank socket) belongs to rank 0"));
}

TEST(ServerSessionPmi2Test, ProtocolPolicyRefusesTheOtherVersion) {
  HostEvents events;
  auto host = MakeHost(1, events);
  SessionOptions options;
  options.rank = 0;
  options.protocols = ClientProtocols::kPmi1Only;
  std::vector<std::string> sent, warned;
  SessionCallbacks callbacks;
  callbacks.send = [&](std::string bytes) { sent.push_back(bytes); };
  callbacks.warn = [&](absl::string_view w) { warned.emplace_back(w); };
  auto session = ServerSession::Create(*host, options, callbacks);
  wire::Frame frame{wire::Framing::kPmi1Line, "cmd=init pmi_version=2 pmi_subversion=0"};
  ASSERT_OK(session->HandleFrame(frame));
  ASSERT_EQ(sent.size(), 1u);
  EXPECT_THAT(sent[0], HasSubstr("rc=-1"));
  ASSERT_EQ(warned.size(), 1u);
  EXPECT_THAT(warned[0], HasSubstr("--protocol"));
}

}  // namespace
}  // namespace pmi_shim::session
