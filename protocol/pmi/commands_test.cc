// The command table: what the session, the upstream client and the
// transcript read from it.
#include "protocol/pmi/commands.h"

#include "gtest/gtest.h"

namespace pmi_shim::wire {
namespace {

TEST(CommandsTest, FindsEachVersionsRequests) {
  const CommandSpec* get = FindCommand(PmiVersion::kPmi1, "get");
  ASSERT_NE(get, nullptr);
  EXPECT_STREQ(get->reply, "get_result");
  EXPECT_TRUE(get->needs_init);
  EXPECT_FALSE(get->read_only);
  EXPECT_EQ(FindCommand(PmiVersion::kPmi2, "get"), nullptr);
  EXPECT_EQ(FindCommand(PmiVersion::kPmi1, "kvs-get"), nullptr);
  EXPECT_EQ(FindCommand(PmiVersion::kPmi1, "no-such-command"), nullptr);
  const CommandSpec* fullinit = FindCommand(PmiVersion::kPmi2, "fullinit");
  ASSERT_NE(fullinit, nullptr);
  EXPECT_FALSE(fullinit->needs_init);
  EXPECT_EQ(FindCommand(PmiVersion::kPmi2, "abort")->reply, nullptr);
}

TEST(CommandsTest, EveryPmi2ReplyIsTheRequestWithResponse) {
  for (const CommandSpec& spec : Commands()) {
    if (spec.version != PmiVersion::kPmi2 || spec.reply == nullptr) continue;
    EXPECT_EQ(std::string(spec.reply), std::string(spec.request) + "-response");
  }
}

TEST(CommandsTest, ReplyNamesFollowTheTableThenTheConvention) {
  EXPECT_EQ(ReplyCommandFor(PmiVersion::kPmi1, "put"), "put_result");
  EXPECT_EQ(ReplyCommandFor(PmiVersion::kPmi1, "barrier_in"), "barrier_out");
  EXPECT_EQ(ReplyCommandFor(PmiVersion::kPmi1, "finalize"), "finalize_ack");
  EXPECT_EQ(ReplyCommandFor(PmiVersion::kPmi1, "get_maxes"), "maxes");
  EXPECT_EQ(ReplyCommandFor(PmiVersion::kPmi1, "mystery"), "mystery_result");
  EXPECT_EQ(ReplyCommandFor(PmiVersion::kPmi2, "kvs-fence"), "kvs-fence-response");
  EXPECT_EQ(ReplyCommandFor(PmiVersion::kPmi2, "mystery"), "mystery-response");
}

TEST(CommandsTest, ReadOnlyRequestsAreTheStartUpQueries) {
  for (const char* request : {"initack", "init", "get_maxes", "get_appnum", "get_universe_size",
                              "get_my_kvsname", "fullinit", "job-getid", "info-getjobattr"}) {
    EXPECT_TRUE(IsReadOnlyRequest(request)) << request;
  }
  for (const char* request : {"put", "get", "barrier_in", "kvs-put", "kvs-get", "kvs-fence",
                              "info-getnodeattr", "finalize", "abort", "unknown"}) {
    EXPECT_FALSE(IsReadOnlyRequest(request)) << request;
  }
}

TEST(CommandsTest, ReplyOnlyCommandsExcludeInitackWhichIsBoth) {
  for (const char* reply :
       {"response_to_init", "maxes", "appnum", "universe_size", "my_kvsname", "put_result",
        "barrier_out", "finalize_ack", "set", "kvs-get-response", "anything_result"}) {
    EXPECT_TRUE(IsReplyOnlyCommand(reply)) << reply;
  }
  for (const char* request : {"initack", "init", "get", "kvs-get", "fullinit", "unknown"}) {
    EXPECT_FALSE(IsReplyOnlyCommand(request)) << request;
  }
}

}  // namespace
}  // namespace pmi_shim::wire
