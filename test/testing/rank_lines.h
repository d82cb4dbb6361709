// What the ranks of a job printed: the test programs each print one line
// "rank R of N: TEXT" once they are wired up (mpi_collectives, pmi2_kvs,
// pmix_ompi_app, pmix_probe). A job is right when every rank 0..N-1 printed
// exactly one such line with the expected TEXT and no line names another job
// size: N singletons would each print "rank 0 of 1: ...".
//
//   EXPECT_THAT(out.run.stdout_text, HasOneLinePerRank(4, "allreduce=10 allgather=ok"))
//       << out.run.Describe();
//   EXPECT_THAT(out.run.stdout_text, HasOneLinePerRank(4, [](int rank) {
//     return absl::StrFormat("pmix ok local=%d/4", rank);
//   }));
//   EXPECT_THAT(out.run.stdout_text, HasOneLinePerRank(4, StartsWith("pmi2 ok mapping=")));
#ifndef PMI_SHIM_TEST_TESTING_RANK_LINES_H_
#define PMI_SHIM_TEST_TESTING_RANK_LINES_H_

#include <functional>
#include <optional>
#include <string>
#include <type_traits>
#include <vector>

#include "absl/strings/string_view.h"
#include "gmock/gmock.h"

namespace pmi_shim::testutil {

// The output split into lines (without '\n'; no empty last line).
std::vector<std::string> Lines(absl::string_view text);

// The lines of `text` that start with `prefix`.
std::vector<std::string> LinesStartingWith(absl::string_view text, absl::string_view prefix);

// One "rank R of N: TEXT" line.
struct RankLine {
  int rank = -1;
  int size = -1;
  std::string text;  // after ": "
};

// The line as a RankLine, or nullopt when it has not that form.
std::optional<RankLine> ParseRankLine(absl::string_view line);

// What rank R's TEXT must match.
using RankTextMatcher = std::function<::testing::Matcher<const std::string&>(int rank)>;

// Matches output (a string) holding, for every rank R in 0..ranks-1, exactly
// one line "rank R of <ranks>: TEXT" whose TEXT matches `text_of(R)`, and no
// other line that starts with "rank " (another size, a rank out of range, a
// malformed line). Other output is ignored. On a mismatch it lists every
// problem.
::testing::Matcher<const std::string&> HasOneLinePerRankMatching(int ranks,
                                                                 RankTextMatcher text_of);

// The same TEXT (a string or a string matcher) for every rank.
inline ::testing::Matcher<const std::string&> HasOneLinePerRank(
    int ranks, ::testing::Matcher<const std::string&> text) {
  return HasOneLinePerRankMatching(ranks, [text](int) { return text; });
}

// A TEXT that depends on the rank: `text_of(rank)` returns a string or a
// string matcher.
template <typename TextOf, typename = std::enable_if_t<std::is_invocable_v<TextOf, int>>>
::testing::Matcher<const std::string&> HasOneLinePerRank(int ranks, TextOf text_of) {
  return HasOneLinePerRankMatching(
      ranks, [text_of](int rank) { return ::testing::Matcher<const std::string&>(text_of(rank)); });
}

// What mpi_collectives and pmix_ompi_app print after "rank R of N: " when
// MPI_Allreduce of the ranks 1..N and MPI_Allgather worked:
// "allreduce=<N(N+1)/2> allgather=ok".
std::string CollectivesText(int ranks);

}  // namespace pmi_shim::testutil

#endif  // PMI_SHIM_TEST_TESTING_RANK_LINES_H_
