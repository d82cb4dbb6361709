// End-to-end: `pmi-bridge launch` against ranks that misbehave on the PMI
// wire, driven by the scripted pmi_raw_client.
//
// For every bad input the launcher's contract names, the test checks the
// one-line error "pmi-bridge: rank R: <problem>; <what to do>" with its
// keyword, the promised exit status, that the whole run ends well within
// 10 s (nothing may hang) and that no rank of the job is left running. The
// well-behaved ranks in these scripts wait 5 s for a reply and then sleep
// 30 s: only the launcher ending the job can get the run under the limit.
#include <initializer_list>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "test/e2e/launch_util.h"
#include "test/testing/launcher.h"
#include "test/testing/netns_test_main.h"
#include "test/testing/rank_lines.h"
#include "test/testing/runfiles.h"

namespace pmi_shim::e2e {
namespace {

using ::testing::IsEmpty;
using testutil::JobResult;
using testutil::Lines;
using testutil::ModeName;
using testutil::PmiMode;
using testutil::ProgramPath;
using Script = std::vector<std::string>;

// Whole-run limit from the contract; the test's own kill limit is higher so
// that a slow launcher shows up as a failed expectation with its output.
constexpr absl::Duration kRunLimit = absl::Seconds(10);

// Port mode needs the initack handshake first; "initack" is a no-op on PMI_FD.
const Script kInit = {"initack", "send:cmd=init pmi_version=1 pmi_subversion=1\\n", "recv"};
const Script kFinalize = {"send:cmd=finalize\\n", "recv"};
// A good rank that enters the barrier and then lives far beyond kRunLimit
// unless the launcher ends the job.
const Script kWaitInBarrier = {"send:cmd=barrier_in\\n", "recv", "sleep:30000"};
// A good rank for jobs that should carry on: barrier, finalize, exit 0.
const Script kBarrierFinalize = {"send:cmd=barrier_in\\n", "recv", "send:cmd=finalize\\n", "recv"};

// pmi_raw_client followed by the concatenated parts.
std::vector<std::string> RawClient(std::initializer_list<Script> parts) {
  std::vector<std::string> command = {ProgramPath("pmi_raw_client")};
  for (const Script& part : parts) {
    command.insert(command.end(), part.begin(), part.end());
  }
  return command;
}

// Lines of replies starting with `prefix` (e.g. "cmd=put_result").
std::vector<std::string> RepliesStartingWith(absl::string_view stdout_text,
                                             absl::string_view prefix) {
  std::vector<std::string> out;
  for (const std::string& reply : Replies(stdout_text)) {
    if (absl::StartsWith(reply, prefix)) out.push_back(reply);
  }
  return out;
}

class BadInputTest : public ::testing::TestWithParam<PmiMode> {
 protected:
  void SetUp() override { PMI_SHIM_REQUIRE_PRIVATE_NETNS(); }

  JobResult Launch(int ranks, std::vector<std::string> command,
                   std::vector<std::string> flags = {}) {
    testutil::JobSpec spec;
    spec.launcher = testutil::Launcher::kBridgeLaunch;
    spec.ranks = ranks;
    spec.mode = GetParam();
    spec.launcher_flags = std::move(flags);
    spec.command = std::move(command);
    spec.timeout = absl::Seconds(40);
    return RunOrAddFailure(spec);
  }

  // What every scenario must show: no hang, nothing left behind.
  void ExpectEndedCleanly(const JobResult& out) {
    EXPECT_FALSE(out.run.timed_out) << out.run.Describe();
    EXPECT_LT(out.run.wall, kRunLimit) << out.run.Describe();
    EXPECT_THAT(out.leftovers, IsEmpty()) << "ranks still running after the launcher exited";
  }

  // A job the contract says is aborted: a non-zero exit (not a crash).
  void ExpectAborted(const JobResult& out) {
    EXPECT_GT(out.run.exit_code, 0) << out.run.Describe();
  }

  void ExpectRankError(const JobResult& out, int rank, absl::string_view keyword) {
    EXPECT_TRUE(FindRankError(out.run.stderr_text, rank, keyword).has_value())
        << "want a stderr line \"pmi-bridge: rank " << rank << ": ..." << keyword << "...; ...\"\n"
        << out.run.Describe();
  }
};

TEST_P(BadInputTest, MalformedLineIsReported) {
  JobResult out =
      Launch(2, RawClient({kInit,
                           {"--rank=1", "send:this line has no command\\n", "recv", "--rank=*"},
                           kBarrierFinalize}));
  ExpectRankError(out, 1, "malformed");
  ExpectEndedCleanly(out);
}

TEST_P(BadInputTest, LineOver64KiBIsReported) {
  // Valid but for its length: get_maxes padded with 70000 spaces.
  JobResult out = Launch(2, RawClient({kInit,
                                       {"--rank=1", "send:cmd=get_maxes", "repeat: :70000",
                                        "send:\\n", "recv", "--rank=*"},
                                       kBarrierFinalize}));
  ExpectRankError(out, 1, "too long");
  ExpectEndedCleanly(out);
}

TEST_P(BadInputTest, OversizeValueIsRefusedAndTheJobContinues) {
  JobResult out = Launch(
      1, RawClient({kInit,
                    {"send:cmd=get_my_kvsname\\n", "recv",
                     // 1100 bytes: beyond the 1024 the launcher advertises.
                     "send:cmd=put kvsname={kvsname} key=big value=", "repeat:v:1100", "send:\\n",
                     "recv", "send:cmd=put kvsname={kvsname} key=small value=ok\\n", "recv",
                     "send:cmd=barrier_in\\n", "recv",
                     "send:cmd=get kvsname={kvsname} key=small\\n", "recv"},
                    kFinalize}));
  EXPECT_EQ(out.run.exit_code, 0) << out.run.Describe();
  ExpectRankError(out, 0, "too long");
  std::vector<std::string> puts = RepliesStartingWith(out.run.stdout_text, "cmd=put_result");
  ASSERT_EQ(puts.size(), 2u) << out.run.Describe();
  EXPECT_THAT(ReplyRc(puts[0]), ::testing::Optional(::testing::Ne(0)))
      << "the oversize put must get a non-zero rc: " << puts[0];
  EXPECT_THAT(ReplyRc(puts[1]), ::testing::Optional(0)) << puts[1];
  std::vector<std::string> gets = RepliesStartingWith(out.run.stdout_text, "cmd=get_result");
  ASSERT_EQ(gets.size(), 1u) << out.run.Describe();
  EXPECT_THAT(gets[0], ::testing::HasSubstr("value=ok"));
  EXPECT_THAT(RepliesStartingWith(out.run.stdout_text, "cmd=finalize_ack"), ::testing::SizeIs(1));
  ExpectEndedCleanly(out);
}

TEST_P(BadInputTest, UnknownCommandAbortsTheJob) {
  JobResult out =
      Launch(2, RawClient({kInit,
                           {"--rank=0"},
                           kWaitInBarrier,
                           {"--rank=1", "send:cmd=frobnicate\\n", "recv", "sleep:30000"}}));
  ExpectAborted(out);
  ExpectRankError(out, 1, "unknown command");
  ExpectEndedCleanly(out);
}

TEST_P(BadInputTest, SecondInitIsRefusedAndTheJobContinues) {
  JobResult out = Launch(1, RawClient({kInit,
                                       {"send:cmd=init pmi_version=1 pmi_subversion=1\\n", "recv",
                                        "send:cmd=get_maxes\\n", "recv"},
                                       kFinalize}));
  EXPECT_EQ(out.run.exit_code, 0) << out.run.Describe();
  ExpectRankError(out, 0, "already initialized");
  std::vector<std::string> inits = RepliesStartingWith(out.run.stdout_text, "cmd=response_to_init");
  ASSERT_EQ(inits.size(), 2u) << out.run.Describe();
  EXPECT_THAT(ReplyRc(inits[0]), ::testing::Optional(0)) << inits[0];
  EXPECT_THAT(ReplyRc(inits[1]), ::testing::Optional(::testing::Ne(0)))
      << "the second init must get an error reply: " << inits[1];
  EXPECT_THAT(RepliesStartingWith(out.run.stdout_text, "cmd=maxes"), ::testing::SizeIs(1))
      << out.run.Describe();
  ExpectEndedCleanly(out);
}

TEST_P(BadInputTest, CommandsBeforeInitAreRefusedAndTheJobContinues) {
  for (const char* early :
       {"cmd=put kvsname=kvs key=a value=b", "cmd=get kvsname=kvs key=a", "cmd=barrier_in"}) {
    SCOPED_TRACE(early);
    JobResult out =
        Launch(1, RawClient({{"initack", absl::StrCat("send:", early, "\\n"), "recv"},
                             {"send:cmd=init pmi_version=1 pmi_subversion=1\\n", "recv"},
                             kFinalize}));
    EXPECT_EQ(out.run.exit_code, 0) << out.run.Describe();
    ExpectRankError(out, 0, "before init");
    // The first reply after the port-mode handshake answers `early`.
    std::vector<std::string> replies;
    for (const std::string& reply : Replies(out.run.stdout_text)) {
      if (!absl::StartsWith(reply, "cmd=initack") && !absl::StartsWith(reply, "cmd=set ")) {
        replies.push_back(reply);
      }
    }
    ASSERT_EQ(replies.size(), 3u) << out.run.Describe();
    EXPECT_THAT(ReplyRc(replies[0]), ::testing::Optional(::testing::Ne(0)))
        << "want an error reply, got: " << replies[0];
    EXPECT_TRUE(absl::StartsWith(replies[1], "cmd=response_to_init"));
    EXPECT_THAT(ReplyRc(replies[1]), ::testing::Optional(0)) << replies[1];
    EXPECT_TRUE(absl::StartsWith(replies[2], "cmd=finalize_ack")) << replies[2];
    ExpectEndedCleanly(out);
  }
}

TEST_P(BadInputTest, CloseWithoutFinalizeAbortsTheJob) {
  // Rank 1 drops its connection but keeps running: the launcher must still
  // end it along with the waiting rank 0.
  JobResult out = Launch(
      2, RawClient({kInit, {"--rank=0"}, kWaitInBarrier, {"--rank=1", "close", "sleep:30000"}}));
  ExpectAborted(out);
  ExpectRankError(out, 1, "without finalize");
  ExpectEndedCleanly(out);
}

TEST_P(BadInputTest, ExitWithoutFinalizeAbortsTheJob) {
  // The common crash: the process is gone (exit 0, even) after init.
  JobResult out =
      Launch(2, RawClient({kInit, {"--rank=0"}, kWaitInBarrier, {"--rank=1", "exit:0"}}));
  ExpectAborted(out);
  ExpectRankError(out, 1, "without finalize");
  ExpectEndedCleanly(out);
}

TEST_P(BadInputTest, SilentRankIsReportedAfterInitTimeout) {
  JobResult out =
      Launch(2, RawClient({{"--rank=0"}, kInit, kWaitInBarrier, {"--rank=1", "sleep:30000"}}),
             {"--init-timeout", "1"});
  ExpectAborted(out);
  ExpectRankError(out, 1, "sent nothing");
  ExpectEndedCleanly(out);
}

TEST_P(BadInputTest, AbortCarriesExitCodeAndMessage) {
  JobResult out = Launch(
      2, RawClient({kInit,
                    {"--rank=0"},
                    kWaitInBarrier,
                    {"--rank=1", "send:cmd=abort exitcode=7 message=boom\\n", "sleep:30000"}}));
  EXPECT_EQ(out.run.exit_code, 7) << out.run.Describe();
  bool reported = false;
  for (const std::string& line : Lines(out.run.stderr_text)) {
    reported |= absl::StartsWith(line, "pmi-bridge: rank 1") && absl::StrContains(line, "boom");
  }
  EXPECT_TRUE(reported) << "want \"boom\" on a \"pmi-bridge: rank 1...\" line\n"
                        << out.run.Describe();
  ExpectEndedCleanly(out);
}

TEST_P(BadInputTest, FirstNonZeroExitIsTheJobStatus) {
  // No PMI at all: rank 1 fails at once with 3, rank 0 would fail later
  // with 5 (unless the launcher ends it first); the job reports 3.
  JobResult out =
      Launch(2, {"sh", "-c", "if [ \"$PMI_RANK\" = 1 ]; then exit 3; fi; sleep 1; exit 5"});
  EXPECT_EQ(out.run.exit_code, 3) << out.run.Describe();
  ExpectEndedCleanly(out);
}

TEST_P(BadInputTest, SingleRankExitCodeIsPassedThrough) {
  JobResult out = Launch(1, {"sh", "-c", "exit 3"});
  EXPECT_EQ(out.run.exit_code, 3) << out.run.Describe();
  ExpectEndedCleanly(out);
}

INSTANTIATE_TEST_SUITE_P(Modes, BadInputTest, ::testing::Values(PmiMode::kFd, PmiMode::kPort),
                         [](const ::testing::TestParamInfo<PmiMode>& info) {
                           return ModeName(info.param);
                         });

}  // namespace
}  // namespace pmi_shim::e2e
