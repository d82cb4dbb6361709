// PendingCalls without a PMIx server: "libpmix" is a thread that answers
// through the same callbacks libpmix would call.
#include "bridge/pmix/pending_calls.h"

#include <gtest/gtest.h>
#include <pmix.h>

#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "common/event_loop.h"
#include "test/testing/status_matchers.h"

namespace pmi_shim::pmix {
namespace {

using Result = absl::StatusOr<std::string>;

// Runs the loop until `done` or a timeout.
void RunUntil(EventLoop& loop, const std::function<bool()>& done) {
  std::function<void()> check;
  check = [&] {
    if (done()) {
      loop.Stop();
      return;
    }
    loop.AddTimer(absl::Milliseconds(2), check);
  };
  loop.AddTimer(absl::Seconds(10), [&] { loop.Stop(); });
  loop.AddTimer(absl::Milliseconds(0), check);
  ASSERT_OK(loop.Run());
}

TEST(PendingCallsTest, AnswerFromLibpmixThreadRunsTheReplyOnTheLoop) {
  EventLoop loop;
  PendingCalls calls(loop);
  std::vector<Result> results;
  std::thread::id reply_thread;
  PendingCalls::Call* call = calls.Start("PMIx get of k from rank 1", [&](Result r) {
    results.push_back(std::move(r));
    reply_thread = std::this_thread::get_id();
  });
  EXPECT_EQ(call->what(), "PMIx get of k from rank 1");
  EXPECT_EQ(calls.pending(), 1u);
  std::thread progress([call] {
    pmix_value_t* value = nullptr;
    PMIX_VALUE_CREATE(value, 1);
    value->type = PMIX_STRING;
    value->data.string = strdup("v1");
    PendingCalls::OnValue(PMIX_SUCCESS, value, call);  // takes the value
  });
  progress.join();
  RunUntil(loop, [&] { return !results.empty(); });
  ASSERT_EQ(results.size(), 1u);
  ASSERT_OK(results[0]);
  EXPECT_EQ(*results[0], "v1");
  EXPECT_EQ(reply_thread, std::this_thread::get_id());
  EXPECT_EQ(calls.pending(), 0u);
}

TEST(PendingCallsTest, CallbacksMapStatusesAndPayloads) {
  EventLoop loop;
  PendingCalls calls(loop);
  std::vector<Result> results(5, absl::UnknownError("no reply"));
  int answered = 0;
  auto reply_to = [&](int i) {
    return [&, i](Result r) {
      results[i] = std::move(r);
      ++answered;
    };
  };
  PendingCalls::OnOpDone(PMIX_SUCCESS, calls.Start("fence", reply_to(0)));
  PendingCalls::OnOpDone(PMIX_ERR_LOST_CONNECTION, calls.Start("fence", reply_to(1)));
  PendingCalls::OnValue(PMIX_SUCCESS, nullptr, calls.Start("get of k", reply_to(2)));
  char blob[] = {'a', '\0', 'b'};
  PendingCalls::OnModexData(PMIX_SUCCESS, blob, sizeof(blob), calls.Start("dmodex", reply_to(3)));
  PendingCalls::OnModexData(PMIX_ERR_NOT_FOUND, nullptr, 0, calls.Start("dmodex", reply_to(4)));
  RunUntil(loop, [&] { return answered == 5; });
  ASSERT_OK(results[0]);
  EXPECT_EQ(*results[0], "");
  EXPECT_EQ(results[1].status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(results[2].status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(results[2].status().message(), "get of k: no value");
  ASSERT_OK(results[3]);
  EXPECT_EQ(*results[3], std::string("a\0b", 3));
  EXPECT_EQ(results[4].status().code(), absl::StatusCode::kNotFound);
}

TEST(PendingCallsTest, RefusedCallRepliesAtOnceWithTheMappedError) {
  EventLoop loop;
  PendingCalls calls(loop);
  std::vector<Result> results;
  PendingCalls::Call* call = calls.Start("PMIx fence", [&](Result r) { results.push_back(r); });
  calls.Refused(call, PMIX_ERR_UNREACH);
  ASSERT_EQ(results.size(), 1u);
  EXPECT_EQ(results[0].status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(calls.pending(), 0u);
}

TEST(PendingCallsTest, FailAllRepliesOnceAndDropsTheLateAnswer) {
  EventLoop loop;
  PendingCalls calls(loop);
  std::vector<Result> results;
  PendingCalls::Call* first = calls.Start("a", [&](Result r) { results.push_back(r); });
  calls.Start("b", [&](Result r) { results.push_back(r); });
  calls.FailAll(absl::UnavailableError("server gone"));
  ASSERT_EQ(results.size(), 2u);
  EXPECT_EQ(results[1].status().message(), "server gone");
  PendingCalls::Finish(first, std::string("late"));
  bool later_ran = false;
  loop.Post([&] { later_ran = true; });
  RunUntil(loop, [&] { return later_ran; });
  EXPECT_EQ(results.size(), 2u);
  calls.ForgetUnanswered();  // "b" was never answered
}

TEST(PendingCallsTest, AnswersAfterTheOwnerIsGoneTouchNothing) {
  EventLoop loop;
  bool replied = false;
  auto calls = std::make_unique<PendingCalls>(loop);
  PendingCalls::Call* call = calls->Start("a", [&](Result) { replied = true; });
  calls.reset();
  // libpmix may answer later still: the call is alive, the reply is not run.
  PendingCalls::OnOpDone(PMIX_SUCCESS, call);
  bool drained = false;
  loop.Post([&] { drained = true; });
  RunUntil(loop, [&] { return drained; });
  EXPECT_FALSE(replied);
}

TEST(CallAndWaitTest, WaitsForTheCallbackFromAnotherThread) {
  std::thread progress;
  pmix_status_t rc = CallAndWait([&](pmix_op_cbfunc_t cbfunc, void* cbdata) {
    progress = std::thread([cbfunc, cbdata] { cbfunc(PMIX_ERR_NO_PERMISSIONS, cbdata); });
    return PMIX_SUCCESS;
  });
  progress.join();
  EXPECT_EQ(rc, PMIX_ERR_NO_PERMISSIONS);
}

TEST(CallAndWaitTest, ImmediateAnswersNeedNoCallback) {
  EXPECT_EQ(CallAndWait([](pmix_op_cbfunc_t, void*) { return PMIX_OPERATION_SUCCEEDED; }),
            PMIX_SUCCESS);
  EXPECT_EQ(CallAndWait([](pmix_op_cbfunc_t, void*) { return PMIX_ERR_BAD_PARAM; }),
            PMIX_ERR_BAD_PARAM);
}

TEST(CallAndWaitTest, TimesOutAndSurvivesTheLateCallback) {
  pmix_op_cbfunc_t saved_cbfunc = nullptr;
  void* saved_cbdata = nullptr;
  pmix_status_t rc = CallAndWait(
      [&](pmix_op_cbfunc_t cbfunc, void* cbdata) {
        saved_cbfunc = cbfunc;
        saved_cbdata = cbdata;
        return PMIX_SUCCESS;
      },
      absl::Milliseconds(10));
  EXPECT_EQ(rc, PMIX_ERR_TIMEOUT);
  saved_cbfunc(PMIX_SUCCESS, saved_cbdata);  // frees its wait state
}

}  // namespace
}  // namespace pmi_shim::pmix
