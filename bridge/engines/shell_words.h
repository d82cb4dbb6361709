// Command lines as text: for showing a rewritten engine command to a user
// (`pmi-bridge exec --dry-run`, `pmi-bridge env`) so that it can be pasted
// into a POSIX shell, and for reading the golden test files back.
#ifndef PMI_SHIM_BRIDGE_ENGINES_SHELL_WORDS_H_
#define PMI_SHIM_BRIDGE_ENGINES_SHELL_WORDS_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace pmi_shim::engines {

// One word, single-quoted only when the shell would otherwise split or
// expand it ("a b" -> 'a b', "it's" -> 'it'\''s', "" -> '').
std::string QuoteShellWord(absl::string_view word);
// The words quoted and joined by single spaces.
std::string JoinShellWords(const std::vector<std::string>& words);
// The inverse for the subset JoinShellWords produces plus double quotes
// without expansions: blanks separate words, '...' is literal, "..." is
// literal except \" and \\. Errors on an unterminated quote.
absl::StatusOr<std::vector<std::string>> SplitShellWords(absl::string_view line);

}  // namespace pmi_shim::engines

#endif  // PMI_SHIM_BRIDGE_ENGINES_SHELL_WORDS_H_
