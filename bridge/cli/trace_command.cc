#include "bridge/cli/trace_command.h"

#include <boost/program_options.hpp>
#include <cstdio>
#include <iostream>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "bridge/cli/command_line.h"
#include "bridge/diagnose/host_env_source.h"
#include "bridge/diagnose/trace_relay.h"
#include "bridge/diagnose/transcript.h"
#include "common/log.h"

namespace pmi_shim::cli {
namespace po = boost::program_options;

namespace {
constexpr char kUsage[] =
    "Usage: pmi-bridge trace [--output FILE] [--json] -- COMMAND [ARGS...]\n"
    "\n"
    "Runs COMMAND as a client of the PMI server named by this environment\n"
    "(PMI_FD or PMI_PORT), relays its PMI-1/PMI-2 traffic unchanged and prints\n"
    "every message decoded, with time, rank and direction; known mismatches are\n"
    "flagged with '!!'. Exits with COMMAND's status.\n";
}  // namespace

int RunTraceCommand(const std::vector<std::string>& args) {
  SplitCommandLine split = SplitAtSeparator(args);
  std::string output;
  bool json = false;
  po::options_description description("Options");
  description.add_options()("output,o", po::value<std::string>(&output),
                            "write the transcript to FILE (default: stderr)")(
      "json", po::bool_switch(&json), "JSON lines instead of text");
  if (std::optional<int> done = ParseVerbOptions("trace", split.options, description, kUsage)) {
    return *done;
  }
  if (!split.has_separator || split.command.empty())
    return UsageError("trace", "missing '-- COMMAND' after the options");
  std::FILE* out = stderr;
  if (!output.empty()) {
    out = std::fopen(output.c_str(), "a");
    if (out == nullptr) {
      log::Error(absl::StrCat("cannot open ", output,
                              " for the transcript; check the directory exists and is writable"));
      return 1;
    }
  }
  diagnose::Transcript transcript(
      out, json ? diagnose::Transcript::Format::kJson : diagnose::Transcript::Format::kHuman,
      absl::Now());
  absl::StatusOr<int> status =
      diagnose::RunTrace(diagnose::OwnEnvironment(), split.command, transcript);
  if (out != stderr) std::fclose(out);
  if (!status.ok()) {
    log::Error(std::string(status.status().message()));
    return 1;
  }
  return *status;
}

}  // namespace pmi_shim::cli
