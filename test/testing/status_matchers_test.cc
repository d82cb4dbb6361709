#include "test/testing/status_matchers.h"

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "gmock/gmock.h"
#include "gtest/gtest-spi.h"
#include "gtest/gtest.h"

namespace pmi_shim::testutil {
namespace {

using ::testing::DescribeMatcher;
using ::testing::ElementsAre;
using ::testing::Eq;
using ::testing::HasSubstr;
using ::testing::Matcher;
using ::testing::Not;
using ::testing::StringMatchResultListener;

absl::StatusOr<int> Answer() { return 42; }
absl::StatusOr<int> NoAnswer() { return absl::NotFoundError("no answer here"); }

// What `matcher` says about `value` when it does not match.
template <typename T, typename M>
std::string Explain(const M& matcher, const T& value) {
  StringMatchResultListener listener;
  Matcher<const T&>(matcher).MatchAndExplain(value, &listener);
  return listener.str();
}

TEST(IsOkTest, MatchesOkStatusAndStatusOr) {
  EXPECT_THAT(absl::OkStatus(), IsOk());
  EXPECT_THAT(Answer(), IsOk());
  EXPECT_THAT(absl::InternalError("x"), Not(IsOk()));
  EXPECT_THAT(NoAnswer(), Not(IsOk()));
}

TEST(IsOkTest, ExplainsWithTheStatus) {
  EXPECT_EQ(Explain(IsOk(), NoAnswer()), "whose status is NOT_FOUND: no answer here");
  EXPECT_EQ(DescribeMatcher<absl::Status>(IsOk()), "is OK");
  EXPECT_EQ(DescribeMatcher<absl::Status>(IsOk(), /*negation=*/true), "is not OK");
}

TEST(StatusIsTest, MatchesCodeAndMessage) {
  const absl::Status status = absl::InvalidArgumentError("bad line 4");
  EXPECT_THAT(status, StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(status, StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("line 4")));
  EXPECT_THAT(status, StatusIs(absl::StatusCode::kInvalidArgument, "bad line 4"));
  EXPECT_THAT(status, Not(StatusIs(absl::StatusCode::kNotFound)));
  EXPECT_THAT(status, Not(StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("line 5"))));
  EXPECT_THAT(NoAnswer(), StatusIs(absl::StatusCode::kNotFound, HasSubstr("no answer")));
  EXPECT_THAT(Answer(), StatusIs(absl::StatusCode::kOk));
  EXPECT_THAT(Answer(), Not(StatusIs(absl::StatusCode::kNotFound)));
}

TEST(StatusIsTest, ExplainsWithTheStatus) {
  EXPECT_EQ(Explain(StatusIs(absl::StatusCode::kInternal), NoAnswer()),
            "whose status is NOT_FOUND: no answer here");
  EXPECT_EQ(Explain(StatusIs(absl::StatusCode::kInternal), Answer()), "whose status is OK");
  EXPECT_THAT(
      DescribeMatcher<absl::Status>(StatusIs(absl::StatusCode::kInternal, HasSubstr("boom"))),
      HasSubstr("has a status code that is equal to INTERNAL and a message that has "
                "substring \"boom\""));
}

TEST(IsOkAndHoldsTest, MatchesTheValue) {
  EXPECT_THAT(Answer(), IsOkAndHolds(42));
  EXPECT_THAT(Answer(), IsOkAndHolds(Eq(42)));
  EXPECT_THAT(Answer(), Not(IsOkAndHolds(41)));
  EXPECT_THAT(NoAnswer(), Not(IsOkAndHolds(42)));
  absl::StatusOr<std::vector<std::string>> words = std::vector<std::string>{"a", "b"};
  EXPECT_THAT(words, IsOkAndHolds(ElementsAre("a", "b")));
}

TEST(IsOkAndHoldsTest, ExplainsTheStatusOrTheValue) {
  EXPECT_EQ(Explain(IsOkAndHolds(42), NoAnswer()), "whose status is NOT_FOUND: no answer here");
  EXPECT_THAT(Explain(IsOkAndHolds(41), Answer()), HasSubstr("whose value 42 doesn't match"));
}

TEST(AssertOkTest, PassesOnOk) {
  ASSERT_OK(absl::OkStatus());
  ASSERT_OK(Answer());
  EXPECT_OK(absl::OkStatus()) << "context is accepted";
  ASSERT_OK_AND_ASSIGN(int answer, Answer());
  EXPECT_EQ(answer, 42);
  std::string text;
  ASSERT_OK_AND_ASSIGN(text, absl::StatusOr<std::string>("assigned"));
  EXPECT_EQ(text, "assigned");
}

TEST(AssertOkTest, FailureShowsTheStatusAndTheContext) {
  EXPECT_NONFATAL_FAILURE(EXPECT_OK(NoAnswer()) << "while asking",
                          "NoAnswer() is OK\n  Actual: NOT_FOUND: no answer here\nwhile asking");
  EXPECT_FATAL_FAILURE(ASSERT_OK(absl::DataLossError("torn")), "Actual: DATA_LOSS: torn");
  EXPECT_FATAL_FAILURE(
      {
        ASSERT_OK_AND_ASSIGN(int answer, NoAnswer());
        (void)answer;
      },
      "NOT_FOUND: no answer here");
}

TEST(PrintToTest, StatusOrPrintsItsStatusOrValue) {
  EXPECT_EQ(::testing::PrintToString(NoAnswer()), "NOT_FOUND: no answer here");
  EXPECT_EQ(::testing::PrintToString(Answer()), "OK: 42");
}

}  // namespace
}  // namespace pmi_shim::testutil
