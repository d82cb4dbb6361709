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
  bool json = false, help = false;
  po::options_description description("Options");
  description.add_options()
      ("help,h", po::bool_switch(&help), "show this help")
      ("output,o", po::value<std::string>(&output), "write the transcript to FILE (default: stderr)")
      ("json", po::bool_switch(&json), "JSON lines instead of text");
  try {
    po::variables_map values;
    po::store(po::command_line_parser(split.options).options(description).run(), values);
    if (values["help"].as<bool>()) {  // bool_switch sets `help` only at notify()
      std::cout << kUsage << "\n" << description << "\n";
      return 0;
    }
    po::notify(values);
  } catch (const po::error& error) {
    return UsageError("trace", error.what());
  }
  if (!split.has_separator || split.command.empty()) return UsageError("trace", "missing '-- COMMAND' after the options");
  std::FILE* out = stderr;
  if (!output.empty()) {
    out = std::fopen(output.c_str(), "a");
    if (out == nullptr) {
      log::Error(absl::StrCat("cannot open ", output, " for the transcript; check the directory exists and is writable"));
      return 1;
    }
  }
  diagnose::Transcript transcript(out, json ? diagnose::Transcript::Format::kJson : diagnose::Transcript::Format::kHuman,
                                  absl::Now());
  absl::StatusOr<int> status = diagnose::RunTrace(diagnose::OwnEnvironment(), split.command, transcript);
  if (out != stderr) std::fclose(out);
  if (!status.ok()) {
    log::Error(std::string(status.status().message()));
    return 1;
  }
  return *status;
}

}  // namespace pmi_shim::cli
