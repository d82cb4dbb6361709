// Reading an engine's options the way the engine does, so that a rewrite
// finds the image and the command where the engine finds them. Engines use
// the usual GNU/pflag forms: --name VALUE, --name=VALUE, -n VALUE, -nVALUE,
// -n=VALUE (pflag), and clusters of one-letter switches (-eC).
#ifndef PMI_SHIM_BRIDGE_ENGINES_OPTION_SCANNER_H_
#define PMI_SHIM_BRIDGE_ENGINES_OPTION_SCANNER_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace pmi_shim::engines {

enum class OptionArg {
  kNone,        // a switch; pflag also takes --name=false
  kRequired,    // the next word, or after '=' / glued to a short name
  kEqualsOnly,  // argp's optional argument: only as --name=VALUE
};

struct OptionSpec {
  const char* long_name;  // without "--"; nullptr for short-only options
  char short_name;        // 0 when there is none
  OptionArg arg;
};

struct ScannedOption {
  std::string name;  // the long name when there is one, else the letter
  bool has_value = false;
  std::string value;
};

// Reads the option word(s) starting at args[*index] (which begins with '-'
// and is not "--"), appends what it found to `out` and moves *index past
// the words used. `program` names the engine in errors. An option that is
// not in `table` is an error unless written --name=VALUE (then its value
// cannot be mistaken for the image, so it is kept as is).
absl::Status ScanOption(const std::vector<OptionSpec>& table, absl::string_view program,
                        const std::vector<std::string>& args, size_t* index,
                        std::vector<ScannedOption>* out);

// For switches given as --name=VALUE: false for "false", "0", "f", "F",
// "FALSE", "False" (pflag's strconv.ParseBool), true otherwise.
bool SwitchValue(const ScannedOption& option);

}  // namespace pmi_shim::engines

#endif  // PMI_SHIM_BRIDGE_ENGINES_OPTION_SCANNER_H_
