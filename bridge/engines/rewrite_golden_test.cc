// Runs every case of testdata/rewrite_golden.txt through
// RewriteEngineCommand and compares the result word for word. The file
// format is described at its top. Set GOLDEN_PRINT=1 to print what each
// case produces (to review a new case, never to bless it blindly).
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "bridge/engines/engine_command.h"
#include "bridge/engines/shell_words.h"
#include "gtest/gtest.h"
#include "test/testing/runfiles.h"
#include "test/testing/status_matchers.h"

namespace pmi_shim::engines {
namespace {

struct GoldenCase {
  int line = 0;
  std::string name;
  std::string in;
  std::string out;
  std::string error;
  std::string engine;
  std::vector<std::string> notes;
  std::string carry;                    // carry: the client copy's path
  std::optional<ImageFacts> image;      // image_dirs: what the image has
  std::optional<std::string> rank_dir;  // rank_dir: inside a case
};

struct GoldenFile {
  EngineContext context;
  std::vector<GoldenCase> cases;
};

GoldenFile ReadGolden() {
  absl::StatusOr<std::string> path =
      testutil::Runfile("bridge/engines/testdata/rewrite_golden.txt");
  EXPECT_OK(path);
  GoldenFile golden;
  if (!path.ok()) return golden;
  std::ifstream file(*path);
  std::string raw;
  int number = 0;
  while (std::getline(file, raw)) {
    ++number;
    absl::string_view line = absl::StripAsciiWhitespace(raw);
    if (line.empty() || absl::StartsWith(line, "#")) continue;
    const size_t colon = line.find(':');
    EXPECT_NE(colon, absl::string_view::npos) << "line " << number << ": no 'key:'";
    if (colon == absl::string_view::npos) continue;
    const std::string key(line.substr(0, colon));
    const std::string value(absl::StripAsciiWhitespace(line.substr(colon + 1)));
    if (key == "rank_dir" && !golden.cases.empty()) {
      golden.cases.back().rank_dir = value;
    } else if (key == "rank_dir") {
      golden.context.rank_dir = value;
    } else if (key == "tools_dir") {
      golden.context.tools_dir = value;
    } else if (key == "env") {
      const size_t equals = value.find('=');
      golden.context.env.emplace_back(value.substr(0, equals), value.substr(equals + 1));
    } else if (key == "case") {
      GoldenCase next;
      next.line = number;
      next.name = value;
      golden.cases.push_back(std::move(next));
    } else if (golden.cases.empty()) {
      ADD_FAILURE() << "line " << number << ": '" << key << ":' before the first case";
    } else if (key == "in") {
      golden.cases.back().in = value;
    } else if (key == "out") {
      golden.cases.back().out = value;
    } else if (key == "error") {
      golden.cases.back().error = value;
    } else if (key == "engine") {
      golden.cases.back().engine = value;
    } else if (key == "note") {
      golden.cases.back().notes.push_back(value);
    } else if (key == "carry") {
      golden.cases.back().carry = value;
    } else if (key == "image_dirs") {
      // "IMAGE: DIR DIR..." (no DIR: the image has none of those asked about)
      ImageFacts facts;
      std::vector<std::string> words = absl::StrSplit(value, ' ', absl::SkipEmpty());
      if (!words.empty()) {
        facts.image = words[0];
        facts.directories.assign(words.begin() + 1, words.end());
      }
      golden.cases.back().image = std::move(facts);
    } else {
      ADD_FAILURE() << "line " << number << ": unknown key '" << key << "'";
    }
  }
  return golden;
}

TEST(RewriteGoldenTest, EveryCaseRewritesExactly) {
  const GoldenFile golden = ReadGolden();
  ASSERT_GE(golden.cases.size(), 12u);
  const bool print = std::getenv("GOLDEN_PRINT") != nullptr;
  for (const GoldenCase& c : golden.cases) {
    SCOPED_TRACE(absl::StrCat("case '", c.name, "' (rewrite_golden.txt:", c.line, ")"));
    absl::StatusOr<std::vector<std::string>> in = SplitShellWords(c.in);
    ASSERT_OK(in);
    ASSERT_FALSE(in->empty());
    EngineContext context = golden.context;
    if (c.rank_dir.has_value()) {
      context.rank_dir = *c.rank_dir;
      context.env = {{"PMI_SHIM_DIR", *c.rank_dir}};
    }
    context.image = c.image;
    absl::StatusOr<Rewrite> rewrite = RewriteEngineCommand(*in, context);
    if (print) {
      std::cout << "case: " << c.name << "\n";
      if (rewrite.ok()) {
        std::cout << "out: " << JoinShellWords(rewrite->argv)
                  << "\nengine: " << EngineName(rewrite->engine) << "\n";
        for (const std::string& note : rewrite->notes) std::cout << "  note: " << note << "\n";
      } else {
        std::cout << "error: " << rewrite.status().message() << "\n";
      }
    }
    if (!c.error.empty()) {
      ASSERT_FALSE(rewrite.ok()) << "expected an error, got: " << JoinShellWords(rewrite->argv);
      EXPECT_TRUE(absl::StrContains(rewrite.status().message(), c.error))
          << rewrite.status().message();
      continue;
    }
    ASSERT_OK(rewrite);
    absl::StatusOr<std::vector<std::string>> out = SplitShellWords(c.out);
    ASSERT_OK(out);
    EXPECT_EQ(rewrite->argv, *out)
        << "got:  " << JoinShellWords(rewrite->argv) << "\nwant: " << JoinShellWords(*out);
    EXPECT_EQ(EngineName(rewrite->engine), c.engine);
    EXPECT_EQ(rewrite->carry_client_to, c.carry);
    for (const std::string& note : c.notes) {
      bool found = false;
      for (const std::string& have : rewrite->notes) found = found || absl::StrContains(have, note);
      EXPECT_TRUE(found) << "no note contains '" << note << "'; notes:\n  "
                         << absl::StrJoin(rewrite->notes, "\n  ");
    }
  }
}

}  // namespace
}  // namespace pmi_shim::engines
