// CallChannel over a socketpair whose far end holds the peer's replies
// (written before the call, so no server thread is needed) and reads what
// the channel sent.
#include "protocol/pmi/call_channel.h"

#include <sys/socket.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "absl/time/clock.h"
#include "common/unique_fd.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "protocol/pmi/pmi1.h"
#include "protocol/pmi/pmi2.h"
#include "test/testing/status_matchers.h"

namespace pmi_shim::wire {
namespace {

using ::testing::HasSubstr;

class CallChannelTest : public ::testing::Test {
 protected:
  void SetUp() override {
    int fds[2];
    ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds), 0);
    ours_ = UniqueFd(fds[0]);
    peer_ = UniqueFd(fds[1]);
  }
  void PeerSends(const std::string& bytes) {
    ASSERT_EQ(::write(peer_.get(), bytes.data(), bytes.size()), static_cast<ssize_t>(bytes.size()));
  }
  std::string PeerReceived() {
    char buffer[4096];
    const ssize_t n = ::recv(peer_.get(), buffer, sizeof(buffer), MSG_DONTWAIT);
    return n > 0 ? std::string(buffer, static_cast<size_t>(n)) : "";
  }
  CallChannel::Options Quick() {
    CallChannel::Options options;
    options.peer = {"the test server", "; is it alive?", "; it hung up", "; wrong version?"};
    options.reply_timeout = absl::Milliseconds(200);
    return options;
  }

  UniqueFd ours_, peer_;
};

TEST_F(CallChannelTest, InitWritesTheSpellingSlurmParses) {
  CallChannel channel(ours_.get(), Quick());
  PeerSends("cmd=response_to_init rc=0 pmi_version=1 pmi_subversion=1\n");
  absl::StatusOr<Message> init = channel.Init(PmiVersion::kPmi1);
  ASSERT_OK(init);
  EXPECT_EQ(PeerReceived(), "cmd=init pmi_version=1 pmi_subversion=1\n");
  PeerSends("cmd=response_to_init rc=0 pmi_version=2 pmi_subversion=0\n");
  ASSERT_OK(channel.Init(PmiVersion::kPmi2));
  EXPECT_EQ(PeerReceived(), "cmd=init pmi_version=2 pmi_subversion=0\n");
}

TEST_F(CallChannelTest, CallWaitsForTheTablesReplyInEachFraming) {
  std::vector<std::pair<bool, std::string>> traced;
  CallChannel::Options options = Quick();
  options.trace = [&traced](bool to_peer, const Message& message) {
    traced.emplace_back(to_peer, message.command);
  };
  CallChannel channel(ours_.get(), std::move(options));
  PeerSends("cmd=get_result rc=0 value=1,2\n");
  absl::StatusOr<Message> got =
      channel.Call(Message("get").Add("key", "PMI_process_mapping"), Framing::kPmi1Line);
  ASSERT_OK(got);
  EXPECT_EQ(got->Find("value"), "1,2");
  PeerSends(FormatPmi2(Message("job-getid-response").Add("rc", 0).Add("jobid", "kvs_1")));
  absl::StatusOr<Message> id = channel.Call(Message("job-getid"), Framing::kPmi2Record);
  ASSERT_OK(id);
  EXPECT_EQ(id->Find("jobid"), "kvs_1");
  EXPECT_EQ(traced, (std::vector<std::pair<bool, std::string>>{{true, "get"},
                                                               {false, "get_result"},
                                                               {true, "job-getid"},
                                                               {false, "job-getid-response"}}));
  EXPECT_EQ(channel.buffered_bytes(), 0u);
}

TEST_F(CallChannelTest, AnotherReplyNamesBothAndAddsTheAdvice) {
  CallChannel channel(ours_.get(), Quick());
  PeerSends("cmd=appnum rc=0 appnum=0\n");
  absl::StatusOr<Message> got = channel.Call(Message("get_maxes"), Framing::kPmi1Line);
  ASSERT_FALSE(got.ok());
  EXPECT_EQ(got.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(got.status().message(),
            "the test server answered get_maxes with \"cmd=appnum rc=0 appnum=0\" instead of "
            "cmd=maxes; wrong version?");
}

TEST_F(CallChannelTest, MalformedReplyIsAnError) {
  CallChannel channel(ours_.get(), Quick());
  PeerSends("cmd=\n");
  absl::StatusOr<Message> got = channel.Call(Message("get_maxes"), Framing::kPmi1Line);
  EXPECT_THAT(got, testutil::StatusIs(::testing::_, HasSubstr("with a malformed message")));
}

TEST_F(CallChannelTest, SilentPeerTimesOutAfterTheReplyTimeout) {
  CallChannel channel(ours_.get(), Quick());
  const absl::Time start = absl::Now();
  absl::StatusOr<Message> got = channel.Call(Message("get_maxes"), Framing::kPmi1Line);
  ASSERT_FALSE(got.ok());
  EXPECT_GE(absl::Now() - start, absl::Milliseconds(190));
  EXPECT_EQ(got.status().code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_EQ(got.status().message(),
            "the test server did not answer get_maxes in time; is it alive?");
}

TEST_F(CallChannelTest, TheExchangeDeadlineBoundsEveryReply) {
  CallChannel::Options options = Quick();
  options.reply_timeout = absl::InfiniteDuration();
  options.deadline = absl::Now() + absl::Milliseconds(100);
  CallChannel channel(ours_.get(), std::move(options));
  absl::StatusOr<Message> got = channel.Call(Message("barrier_in"), Framing::kPmi1Line);
  EXPECT_EQ(got.status().code(), absl::StatusCode::kDeadlineExceeded);
}

TEST_F(CallChannelTest, PeerThatHangsUpIsUnavailable) {
  CallChannel channel(ours_.get(), Quick());
  ASSERT_EQ(::shutdown(peer_.get(), SHUT_WR), 0);
  absl::StatusOr<Message> got = channel.Init(PmiVersion::kPmi1);
  ASSERT_FALSE(got.ok());
  EXPECT_EQ(got.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(got.status().message(),
            "the test server closed the connection during init; it hung up");
}

TEST_F(CallChannelTest, ExtraBytesStayBufferedForTheCallerToJudge) {
  CallChannel channel(ours_.get(), Quick());
  PeerSends("cmd=maxes rc=0 kvsname_max=256 keylen_max=64 vallen_max=1024\ncmd=set");
  ASSERT_OK(channel.Call(Message("get_maxes"), Framing::kPmi1Line));
  EXPECT_EQ(channel.buffered_bytes(), 7u);
}

TEST(ExcerptTest, CutsLongMessages) {
  EXPECT_EQ(Excerpt(Message("maxes").Add("rc", 0)), "cmd=maxes rc=0");
  const std::string excerpt = Excerpt(Message("put").Add("value", std::string(300, 'x')));
  EXPECT_EQ(excerpt.size(), 163u);
  EXPECT_THAT(excerpt, ::testing::EndsWith("..."));
}

}  // namespace
}  // namespace pmi_shim::wire
