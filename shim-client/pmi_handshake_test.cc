#include "shim-client/pmi_handshake.h"

#include <stdlib.h>
#include <unistd.h>

#include <string>

#include "absl/strings/str_cat.h"
#include "common/net/connector.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "shim-client/fake_rank_server.h"
#include "test/testing/status_matchers.h"

namespace pmi_shim::shim_client {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

class HandshakeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char pattern[] = "/tmp/shim-handshake-XXXXXX";
    ASSERT_NE(::mkdtemp(pattern), nullptr);
    dir_ = pattern;
    path_ = dir_ + "/pmi.sock";
  }
  void TearDown() override {
    server_.reset();
    ::unlink(path_.c_str());
    ::rmdir(dir_.c_str());
  }
  void Serve(FakeRankServer::Options options) {
    auto server = FakeRankServer::Start(path_, options);
    ASSERT_OK(server);
    server_ = *std::move(server);
  }

  std::string dir_, path_;
  std::unique_ptr<FakeRankServer> server_;
};

TEST_F(HandshakeTest, Pmi1ReportsVersionKvsnameMaxesAndSize) {
  Serve({});
  absl::StatusOr<UniqueFd> fd = net::ConnectUnix(path_);
  ASSERT_OK(fd);
  absl::StatusOr<HandshakeReport> report = HandshakePmi1(fd->get(), absl::Seconds(5));
  ASSERT_OK(report);
  EXPECT_EQ(report->WireName(), "PMI-1 (wire 1.1)");
  EXPECT_EQ(report->kvsname, "kvs_fake_7");
  EXPECT_EQ(report->size, 4);
  EXPECT_EQ(report->vallen_max, 1024);
  EXPECT_EQ(report->kvsname_max, 256);
  EXPECT_FALSE(report->rank.has_value());
  fd->Reset();
  server_.reset();  // joins: every request has been recorded
}

TEST_F(HandshakeTest, Pmi1SendsNoPutBarrierOrFinalize) {
  Serve({});
  {
    absl::StatusOr<UniqueFd> fd = net::ConnectUnix(path_);
    ASSERT_OK(fd);
    ASSERT_OK(HandshakePmi1(fd->get(), absl::Seconds(5)));
  }
  // Let the server see the hang-up before asking what it received.
  for (int i = 0; i < 100 && server_->commands().size() < 5; ++i) ::usleep(10000);
  EXPECT_THAT(server_->commands(), ElementsAre("init", "get_maxes", "get_my_kvsname",
                                               "get_universe_size", "get_appnum"));
}

TEST_F(HandshakeTest, Pmi2ReportsRankSizeAndJobid) {
  Serve({});
  absl::StatusOr<UniqueFd> fd = net::ConnectUnix(path_);
  ASSERT_OK(fd);
  absl::StatusOr<HandshakeReport> report = HandshakePmi2(fd->get(), 2, "1234.0", absl::Seconds(5));
  ASSERT_OK(report);
  EXPECT_EQ(report->WireName(), "PMI-2 (wire 2.0)");
  EXPECT_EQ(report->rank, 2);
  EXPECT_EQ(report->size, 4);
  EXPECT_EQ(report->kvsname, "kvs_fake_7");
}

TEST_F(HandshakeTest, RefusedInitIsAnErrorQuotingTheReply) {
  FakeRankServer::Options options;
  options.init_rc = -1;
  Serve(options);
  absl::StatusOr<UniqueFd> fd = net::ConnectUnix(path_);
  ASSERT_OK(fd);
  absl::StatusOr<HandshakeReport> report = HandshakePmi1(fd->get(), absl::Seconds(5));
  EXPECT_THAT(report, testutil::StatusIs(::testing::_, HasSubstr("rc=-1")));
}

TEST_F(HandshakeTest, SilentServerTimesOut) {
  FakeRankServer::Options options;
  options.answer = false;
  Serve(options);
  absl::StatusOr<UniqueFd> fd = net::ConnectUnix(path_);
  ASSERT_OK(fd);
  absl::StatusOr<HandshakeReport> report = HandshakePmi1(fd->get(), absl::Milliseconds(200));
  ASSERT_FALSE(report.ok());
  EXPECT_EQ(report.status().code(), absl::StatusCode::kDeadlineExceeded);
}

TEST_F(HandshakeTest, ServerThatHangsUpIsUnavailable) {
  // The fake, like the bridge, ends a connection on an unknown command.
  Serve({});
  absl::StatusOr<UniqueFd> fd = net::ConnectUnix(path_);
  ASSERT_OK(fd);
  const std::string bogus = "cmd=frobnicate\n";
  ASSERT_EQ(::write(fd->get(), bogus.data(), bogus.size()), static_cast<ssize_t>(bogus.size()));
  absl::StatusOr<HandshakeReport> report = HandshakePmi1(fd->get(), absl::Seconds(5));
  // Closed, reset or a broken pipe, depending on timing: never a report.
  EXPECT_FALSE(report.ok());
}

TEST_F(HandshakeTest, ConnectToMissingSocketNamesThePath) {
  absl::StatusOr<UniqueFd> fd = net::ConnectUnix(path_);
  EXPECT_THAT(fd, testutil::StatusIs(::testing::_, HasSubstr(path_)));
}

TEST(ExpectReplyTest, MissingRcIsSuccessWrongCommandIsNot) {
  wire::Message reply("barrier_out");
  EXPECT_OK(ExpectReply(reply, "barrier_out"));
  EXPECT_FALSE(ExpectReply(reply, "maxes").ok());
  reply.Add("rc", "x");
  EXPECT_FALSE(ExpectReply(reply, "barrier_out").ok());
}

}  // namespace
}  // namespace pmi_shim::shim_client
