#include "bridge/diagnose/host_env_source.h"

#include <fstream>
#include <sstream>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

extern char** environ;

namespace pmi_shim::diagnose {

upstream::Environment ParseEnvironmentText(absl::string_view text) {
  std::vector<std::string> entries;
  if (absl::StrContains(text, '\0')) {
    for (absl::string_view entry : absl::StrSplit(text, '\0', absl::SkipEmpty()))
      entries.emplace_back(entry);
  } else {
    for (absl::string_view line : absl::StrSplit(text, '\n')) {
      line = absl::StripTrailingAsciiWhitespace(line);
      line = absl::StripLeadingAsciiWhitespace(line);
      if (line.empty() || line[0] == '#') continue;
      absl::ConsumePrefix(&line, "export ");
      entries.emplace_back(line);
    }
  }
  return upstream::EnvironmentFromEntries(entries);
}

upstream::Environment OwnEnvironment() {
  std::vector<std::string> entries;
  for (char** e = environ; e != nullptr && *e != nullptr; ++e) entries.emplace_back(*e);
  return upstream::EnvironmentFromEntries(entries);
}

absl::StatusOr<upstream::Environment> EnvironmentFromFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in)
    return absl::NotFoundError(
        absl::StrCat("cannot read ", path, "; give a file of KEY=VALUE lines"));
  std::stringstream text;
  text << in.rdbuf();
  return ParseEnvironmentText(text.str());
}

absl::StatusOr<upstream::Environment> EnvironmentOfPid(int pid) {
  const std::string path = absl::StrCat("/proc/", pid, "/environ");
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return absl::NotFoundError(
        absl::StrCat("cannot read ", path, "; is pid ", pid, " alive and yours?"));
  }
  std::stringstream text;
  text << in.rdbuf();
  return ParseEnvironmentText(text.str());
}

}  // namespace pmi_shim::diagnose
