// What the ranks of a job printed; see rank_lines.h.
#include "test/testing/rank_lines.h"

#include <map>
#include <ostream>
#include <sstream>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"

namespace pmi_shim::testutil {
namespace {

class OneLinePerRankMatcher : public ::testing::MatcherInterface<const std::string&> {
 public:
  OneLinePerRankMatcher(int ranks, RankTextMatcher text_of)
      : ranks_(ranks), text_of_(std::move(text_of)) {}

  bool MatchAndExplain(const std::string& output,
                       ::testing::MatchResultListener* listener) const override {
    std::vector<std::string> problems;
    std::map<int, std::vector<std::string>> texts_of_rank;
    for (const std::string& line : LinesStartingWith(output, "rank ")) {
      std::optional<RankLine> parsed = ParseRankLine(line);
      if (!parsed.has_value()) {
        problems.push_back(absl::StrCat("not of the form \"rank R of N: ...\": ", line));
      } else if (parsed->size != ranks_) {
        problems.push_back(absl::StrCat("another job size (singletons?): ", line));
      } else if (parsed->rank < 0 || parsed->rank >= ranks_) {
        problems.push_back(absl::StrCat("a rank outside the job: ", line));
      } else {
        texts_of_rank[parsed->rank].push_back(parsed->text);
      }
    }
    for (int rank = 0; rank < ranks_; ++rank) {
      const std::vector<std::string>& texts = texts_of_rank[rank];
      if (texts.size() != 1) {
        problems.push_back(absl::StrCat("rank ", rank, " printed ", texts.size(), " lines"));
        continue;
      }
      const ::testing::Matcher<const std::string&> want = text_of_(rank);
      ::testing::StringMatchResultListener why;
      if (!want.MatchAndExplain(texts[0], &why)) {
        std::string description;
        {
          std::ostringstream os;
          want.DescribeTo(&os);
          description = os.str();
        }
        problems.push_back(
            absl::StrCat("rank ", rank, " printed \"", texts[0], "\", which should ", description,
                         why.str().empty() ? "" : absl::StrCat(" (", why.str(), ")")));
      }
    }
    if (!problems.empty()) *listener << absl::StrJoin(problems, "; ");
    return problems.empty();
  }

  void DescribeTo(std::ostream* os) const override {
    *os << "has one line \"rank R of " << ranks_ << ": TEXT\" for each rank R in 0.." << ranks_ - 1
        << ", where rank 0's TEXT ";
    text_of_(0).DescribeTo(os);
  }

  void DescribeNegationTo(std::ostream* os) const override {
    *os << "does not have exactly one line \"rank R of " << ranks_
        << ": TEXT\" with the expected TEXT for each rank";
  }

 private:
  const int ranks_;
  const RankTextMatcher text_of_;
};

}  // namespace

std::vector<std::string> Lines(absl::string_view text) {
  std::vector<std::string> lines = absl::StrSplit(text, '\n');
  if (!lines.empty() && lines.back().empty()) lines.pop_back();
  return lines;
}

std::vector<std::string> LinesStartingWith(absl::string_view text, absl::string_view prefix) {
  std::vector<std::string> out;
  for (std::string& line : Lines(text)) {
    if (absl::StartsWith(line, prefix)) out.push_back(std::move(line));
  }
  return out;
}

std::optional<RankLine> ParseRankLine(absl::string_view line) {
  // "rank R of N: TEXT"
  if (!absl::ConsumePrefix(&line, "rank ")) return std::nullopt;
  const size_t of = line.find(" of ");
  const size_t colon = line.find(": ");
  if (of == absl::string_view::npos || colon == absl::string_view::npos || colon < of) {
    return std::nullopt;
  }
  RankLine parsed;
  if (!absl::SimpleAtoi(line.substr(0, of), &parsed.rank) ||
      !absl::SimpleAtoi(line.substr(of + 4, colon - of - 4), &parsed.size)) {
    return std::nullopt;
  }
  parsed.text = std::string(line.substr(colon + 2));
  return parsed;
}

std::string CollectivesText(int ranks) {
  return absl::StrCat("allreduce=", ranks * (ranks + 1) / 2, " allgather=ok");
}

::testing::Matcher<const std::string&> HasOneLinePerRankMatching(int ranks,
                                                                 RankTextMatcher text_of) {
  return ::testing::MakeMatcher(new OneLinePerRankMatcher(ranks, std::move(text_of)));
}

}  // namespace pmi_shim::testutil
