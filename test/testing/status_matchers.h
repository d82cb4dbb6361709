// gMock matchers and gtest assertions for absl::Status and absl::StatusOr<T>.
//
// `ASSERT_TRUE(x.ok())` fails with "Value of: x.ok() Actual: false" and says
// nothing of why; these print the status (code and message) instead.
// Debian's abseil (20220623) ships no status matchers, hence these.
//
//   ASSERT_OK(WriteFile(path, text));                 // also EXPECT_OK; both take << "context"
//   ASSERT_OK_AND_ASSIGN(std::string text, ReadCapture(name));
//   EXPECT_THAT(ParsePmixUri("x"), StatusIs(absl::StatusCode::kInvalidArgument));
//   EXPECT_THAT(ParsePmixUri("x"), StatusIs(absl::StatusCode::kInvalidArgument,
//                                           HasSubstr("exactly one ';'")));
//   EXPECT_THAT(SplitShellWords("a b"), IsOkAndHolds(ElementsAre("a", "b")));
//   EXPECT_THAT(ParseRankList(""), Not(IsOk()));
//
// Every matcher accepts an absl::Status or any absl::StatusOr<T>.
#ifndef PMI_SHIM_TEST_TESTING_STATUS_MATCHERS_H_
#define PMI_SHIM_TEST_TESTING_STATUS_MATCHERS_H_

#include <ostream>
#include <string>
#include <type_traits>
#include <utility>

#include "absl/base/config.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace pmi_shim::testutil {
namespace status_internal {

inline const absl::Status& GetStatus(const absl::Status& status) { return status; }
template <typename T>
const absl::Status& GetStatus(const absl::StatusOr<T>& status_or) {
  return status_or.status();
}

// The predicate-formatter behind ASSERT_OK / EXPECT_OK.
template <typename StatusType>
::testing::AssertionResult AssertOk(const char* expression, const StatusType& value) {
  const absl::Status& status = GetStatus(value);
  if (status.ok()) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << "Expected: " << expression << " is OK\n"
                                       << "  Actual: " << status;
}

class IsOkMatcher {
 public:
  template <typename StatusType>
  bool MatchAndExplain(const StatusType& value, ::testing::MatchResultListener* listener) const {
    const absl::Status& status = GetStatus(value);
    if (!status.ok()) *listener << "whose status is " << status;
    return status.ok();
  }
  void DescribeTo(std::ostream* os) const { *os << "is OK"; }
  void DescribeNegationTo(std::ostream* os) const { *os << "is not OK"; }
};

class StatusIsMatcher {
 public:
  StatusIsMatcher(::testing::Matcher<absl::StatusCode> code,
                  ::testing::Matcher<const std::string&> message)
      : code_(std::move(code)), message_(std::move(message)) {}

  template <typename StatusType>
  bool MatchAndExplain(const StatusType& value, ::testing::MatchResultListener* listener) const {
    const absl::Status& status = GetStatus(value);
    *listener << "whose status is " << (status.ok() ? "OK" : status.ToString());
    return code_.Matches(status.code()) && message_.Matches(std::string(status.message()));
  }
  void DescribeTo(std::ostream* os) const {
    *os << "has a status code that ";
    code_.DescribeTo(os);
    *os << " and a message that ";
    message_.DescribeTo(os);
  }
  void DescribeNegationTo(std::ostream* os) const {
    *os << "has a status code that ";
    code_.DescribeNegationTo(os);
    *os << " or a message that ";
    message_.DescribeNegationTo(os);
  }

 private:
  ::testing::Matcher<absl::StatusCode> code_;
  ::testing::Matcher<const std::string&> message_;
};

template <typename StatusOrRef>
class IsOkAndHoldsImpl : public ::testing::MatcherInterface<StatusOrRef> {
 public:
  using Value = typename std::remove_cv_t<std::remove_reference_t<StatusOrRef>>::value_type;

  template <typename InnerMatcher>
  explicit IsOkAndHoldsImpl(InnerMatcher&& inner)
      : inner_(::testing::SafeMatcherCast<const Value&>(std::forward<InnerMatcher>(inner))) {}

  bool MatchAndExplain(StatusOrRef actual,
                       ::testing::MatchResultListener* listener) const override {
    if (!actual.ok()) {
      *listener << "whose status is " << actual.status();
      return false;
    }
    ::testing::StringMatchResultListener inner_listener;
    const bool matched = inner_.MatchAndExplain(*actual, &inner_listener);
    *listener << "whose value " << ::testing::PrintToString(*actual)
              << (matched ? " matches" : " doesn't match");
    if (!inner_listener.str().empty()) *listener << ", " << inner_listener.str();
    return matched;
  }
  void DescribeTo(std::ostream* os) const override {
    *os << "is OK and has a value that ";
    inner_.DescribeTo(os);
  }
  void DescribeNegationTo(std::ostream* os) const override {
    *os << "isn't OK or has a value that ";
    inner_.DescribeNegationTo(os);
  }

 private:
  const ::testing::Matcher<const Value&> inner_;
};

// Converts to a Matcher of whichever StatusOr<T> it is used on.
template <typename InnerMatcher>
class IsOkAndHoldsMatcher {
 public:
  explicit IsOkAndHoldsMatcher(InnerMatcher inner) : inner_(std::move(inner)) {}

  template <typename StatusOrType>
  operator ::testing::Matcher<StatusOrType>() const {  // NOLINT: implicit by design
    return ::testing::Matcher<StatusOrType>(new IsOkAndHoldsImpl<const StatusOrType&>(inner_));
  }

 private:
  const InnerMatcher inner_;
};

}  // namespace status_internal

// Matches an OK absl::Status or absl::StatusOr<T>.
inline ::testing::PolymorphicMatcher<status_internal::IsOkMatcher> IsOk() {
  return ::testing::MakePolymorphicMatcher(status_internal::IsOkMatcher());
}

// Matches a status (or StatusOr's status) whose code matches `code` (a
// StatusCode or a matcher of one) and whose message matches `message` (a
// string or a string matcher such as HasSubstr).
template <typename CodeMatcher, typename MessageMatcher>
::testing::PolymorphicMatcher<status_internal::StatusIsMatcher> StatusIs(CodeMatcher code,
                                                                         MessageMatcher message) {
  return ::testing::MakePolymorphicMatcher(
      status_internal::StatusIsMatcher(::testing::MatcherCast<absl::StatusCode>(code),
                                       ::testing::MatcherCast<const std::string&>(message)));
}
template <typename CodeMatcher>
::testing::PolymorphicMatcher<status_internal::StatusIsMatcher> StatusIs(CodeMatcher code) {
  return StatusIs(code, ::testing::_);
}

// Matches an OK absl::StatusOr<T> whose value matches `inner`.
template <typename InnerMatcher>
status_internal::IsOkAndHoldsMatcher<std::decay_t<InnerMatcher>> IsOkAndHolds(
    InnerMatcher&& inner) {
  return status_internal::IsOkAndHoldsMatcher<std::decay_t<InnerMatcher>>(
      std::forward<InnerMatcher>(inner));
}

}  // namespace pmi_shim::testutil

// Debian's abseil has no way to print a StatusOr<T>: gtest would show its
// bytes in "Actual:" lines. Newer abseil releases print it themselves.
#if defined(ABSL_LTS_RELEASE_VERSION) && ABSL_LTS_RELEASE_VERSION <= 20220623
namespace absl {
ABSL_NAMESPACE_BEGIN
template <typename T>
void PrintTo(const StatusOr<T>& status_or, std::ostream* os) {
  if (status_or.ok()) {
    *os << "OK: " << ::testing::PrintToString(*status_or);
  } else {
    *os << status_or.status();
  }
}
ABSL_NAMESPACE_END
}  // namespace absl
#endif

// Fails the test (ASSERT_OK: and returns) unless `expr`, an absl::Status or
// absl::StatusOr<T>, is OK; the message shows the status. Takes << context.
#define ASSERT_OK(expr) ASSERT_PRED_FORMAT1(::pmi_shim::testutil::status_internal::AssertOk, expr)
#define EXPECT_OK(expr) EXPECT_PRED_FORMAT1(::pmi_shim::testutil::status_internal::AssertOk, expr)

// ASSERT_OK_AND_ASSIGN(std::string text, ReadCapture(name)): asserts that the
// StatusOr is OK, then moves its value into `lhs` (a declaration or an lvalue).
#define ASSERT_OK_AND_ASSIGN(lhs, rexpr)                                                         \
  PMI_SHIM_ASSERT_OK_AND_ASSIGN_IMPL_(PMI_SHIM_TEST_CONCAT_(pmi_shim_status_or_, __LINE__), lhs, \
                                      rexpr)
#define PMI_SHIM_TEST_CONCAT_INNER_(a, b) a##b
#define PMI_SHIM_TEST_CONCAT_(a, b) PMI_SHIM_TEST_CONCAT_INNER_(a, b)
#define PMI_SHIM_ASSERT_OK_AND_ASSIGN_IMPL_(status_or, lhs, rexpr)                           \
  auto status_or = (rexpr);                                                                  \
  ASSERT_PRED_FORMAT1(::pmi_shim::testutil::status_internal::AssertOk, status_or) << #rexpr; \
  lhs = *std::move(status_or)

#endif  // PMI_SHIM_TEST_TESTING_STATUS_MATCHERS_H_
