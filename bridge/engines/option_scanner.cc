#include "bridge/engines/option_scanner.h"

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"

namespace pmi_shim::engines {
namespace {

const OptionSpec* FindLong(const std::vector<OptionSpec>& table, absl::string_view name) {
  for (const OptionSpec& spec : table) {
    if (spec.long_name != nullptr && name == spec.long_name) return &spec;
  }
  return nullptr;
}

const OptionSpec* FindShort(const std::vector<OptionSpec>& table, char name) {
  for (const OptionSpec& spec : table) {
    if (spec.short_name != 0 && spec.short_name == name) return &spec;
  }
  return nullptr;
}

std::string NameOf(const OptionSpec& spec) {
  return spec.long_name != nullptr ? std::string(spec.long_name) : std::string(1, spec.short_name);
}

absl::Status Unknown(absl::string_view program, absl::string_view word) {
  return absl::InvalidArgumentError(
      absl::StrCat(program, " option ", word,
                   " is unknown to pmi-bridge, so it cannot tell whether it takes a value; write "
                   "it as --name=VALUE if it does, or add pmi-shim's flags yourself "
                   "(pmi-bridge env --for ",
                   program, ")"));
}

absl::Status MissingValue(absl::string_view program, absl::string_view word) {
  return absl::InvalidArgumentError(
      absl::StrCat(program, " option ", word, " needs a value and the command line ends"));
}

absl::Status ScanLong(const std::vector<OptionSpec>& table, absl::string_view program,
                      const std::vector<std::string>& args, size_t* index,
                      std::vector<ScannedOption>* out) {
  absl::string_view word = args[*index];
  absl::string_view body = word.substr(2);
  const size_t equals = body.find('=');
  const absl::string_view name = body.substr(0, equals);
  const OptionSpec* spec = FindLong(table, name);
  ScannedOption option;
  option.name = std::string(name);
  if (equals != absl::string_view::npos) {
    option.has_value = true;
    option.value = std::string(body.substr(equals + 1));
    if (spec != nullptr) option.name = NameOf(*spec);
    out->push_back(std::move(option));
    ++*index;
    return absl::OkStatus();
  }
  if (spec == nullptr) return Unknown(program, word);
  ++*index;
  if (spec->arg == OptionArg::kRequired) {
    if (*index >= args.size()) return MissingValue(program, word);
    option.has_value = true;
    option.value = args[(*index)++];
  }
  out->push_back(std::move(option));
  return absl::OkStatus();
}

absl::Status ScanShortCluster(const std::vector<OptionSpec>& table, absl::string_view program,
                              const std::vector<std::string>& args, size_t* index,
                              std::vector<ScannedOption>* out) {
  absl::string_view word = args[*index];
  ++*index;
  for (size_t at = 1; at < word.size(); ++at) {
    const OptionSpec* spec = FindShort(table, word[at]);
    if (spec == nullptr) return Unknown(program, absl::StrCat("-", word.substr(at, 1)));
    ScannedOption option;
    option.name = NameOf(*spec);
    if (spec->arg != OptionArg::kRequired) {
      out->push_back(std::move(option));
      continue;
    }
    absl::string_view rest = word.substr(at + 1);
    absl::ConsumePrefix(&rest, "=");
    option.has_value = true;
    if (!rest.empty()) {
      option.value = std::string(rest);
    } else {
      if (*index >= args.size()) return MissingValue(program, word);
      option.value = args[(*index)++];
    }
    out->push_back(std::move(option));
    return absl::OkStatus();
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status ScanOption(const std::vector<OptionSpec>& table, absl::string_view program,
                        const std::vector<std::string>& args, size_t* index,
                        std::vector<ScannedOption>* out) {
  absl::string_view word = args[*index];
  if (absl::StartsWith(word, "--")) return ScanLong(table, program, args, index, out);
  return ScanShortCluster(table, program, args, index, out);
}

bool SwitchValue(const ScannedOption& option) {
  if (!option.has_value) return true;
  const std::string& v = option.value;
  return !(v == "false" || v == "0" || v == "f" || v == "F" || v == "FALSE" || v == "False");
}

}  // namespace pmi_shim::engines
