#include "bridge/cli/launch_command.h"

#include <boost/program_options.hpp>
#include <iostream>

#include "absl/strings/str_cat.h"
#include "bridge/cli/command_line.h"
#include "bridge/launch/launched_job.h"
#include "bridge/launch/own_session.h"
#include "common/log.h"

namespace pmi_shim::cli {
namespace po = boost::program_options;

namespace {

constexpr char kUsage[] =
    "Usage: pmi-bridge launch -n N [options] -- COMMAND [ARGS...]\n"
    "\n"
    "Runs N copies of COMMAND on this machine as one PMI job, with pmi-bridge\n"
    "itself as the PMI server (an in-memory KVS): MPICH and other PMI-1/PMI-2\n"
    "programs start as they would under mpiexec. Exits with the job's status.\n";

struct ParsedLaunch {
  launch::LaunchOptions options;
  std::string protocol = "auto";
  double timeout_seconds = 0;
  double init_timeout_seconds = 120;
  std::string log_file;
  int verbose = 0;
};

po::options_description LaunchOptionsDescription(ParsedLaunch& parsed) {
  po::options_description description("Options");
  description.add_options()("np,n", po::value<int>(&parsed.options.size)->required(),
                            "number of ranks")(
      "pmi-port", po::bool_switch(&parsed.options.pmi_port),
      "hand ranks PMI_PORT=127.0.0.1:PORT and PMI_ID (TCP) instead of an inherited PMI_FD")(
      "protocol", po::value<std::string>(&parsed.protocol),
      "client protocol: auto|pmi1|pmi2 (PMI_FD/PMI_PORT; auto tells them apart), pmix "
      "(Open MPI and libpmix programs, through an embedded libpmix server) or pmix1 (PMIx "
      "v1.2 usock clients, through native v1.2 endpoints)")(
      "timeout", po::value<double>(&parsed.timeout_seconds),
      "end the job after this many seconds (exit status 124); 0 = never")(
      "init-timeout", po::value<double>(&parsed.init_timeout_seconds),
      "end the job when a rank has sent nothing this many seconds after start while others "
      "wait for it in a barrier; 0 = never (default 120)")(
      "trace", po::bool_switch(&parsed.options.trace), "log every PMI message (with -vv)")(
      "log-file", po::value<std::string>(&parsed.log_file), "append JSON-lines logs to FILE")(
      "verbose,v", po::value<int>(&parsed.verbose)->implicit_value(1)->zero_tokens()->composing(),
      "more output on stderr");
  return description;
}

// Maps --protocol to the sessions' policy; an error text when unusable.
std::string ApplyProtocol(ParsedLaunch& parsed) {
  if (parsed.protocol == "auto") {
    parsed.options.protocols = session::ClientProtocols::kAny;
  } else if (parsed.protocol == "pmi1") {
    parsed.options.protocols = session::ClientProtocols::kPmi1Only;
  } else if (parsed.protocol == "pmi2") {
    parsed.options.protocols = session::ClientProtocols::kPmi2Only;
  } else if (parsed.protocol == "pmix") {
    parsed.options.pmix = true;
    if (parsed.options.pmi_port) return "--pmi-port goes with PMI-1/PMI-2, not --protocol pmix";
  } else if (parsed.protocol == "pmix1") {
    parsed.options.pmix_v1 = true;
    if (parsed.options.pmi_port) return "--pmi-port goes with PMI-1/PMI-2, not --protocol pmix1";
  } else {
    return absl::StrCat("--protocol ", parsed.protocol, " is not one of auto|pmi1|pmi2|pmix|pmix1");
  }
  return "";
}

}  // namespace

int RunLaunchCommand(const std::vector<std::string>& args) {
  SplitCommandLine split = SplitAtSeparator(args);
  ParsedLaunch parsed;
  po::options_description description = LaunchOptionsDescription(parsed);
  if (std::optional<int> done = ParseVerbOptions("launch", split.options, description, kUsage)) {
    return *done;
  }
  if (parsed.options.size < 1) return UsageError("launch", "-n must be at least 1");
  if (parsed.options.size > 4096)
    return UsageError("launch", "-n is limited to 4096 ranks on one machine");
  if (!split.has_separator || split.command.empty()) {
    return UsageError("launch", "missing '-- COMMAND' after the options");
  }
  if (std::string problem = ApplyProtocol(parsed); !problem.empty()) {
    return UsageError("launch", problem);
  }
  if (!parsed.log_file.empty()) {
    if (absl::Status opened = log::SetJsonFile(parsed.log_file); !opened.ok()) {
      return UsageError("launch", opened.message());
    }
  }
  log::SetVerbosity(parsed.verbose + (parsed.options.trace ? 2 : 0));
  parsed.options.timeout = absl::Seconds(parsed.timeout_seconds);
  parsed.options.init_timeout = absl::Seconds(parsed.init_timeout_seconds);
  parsed.options.command = split.command;

  // The job (server and ranks) runs in a session of its own, like hydra's
  // proxy and ranks: see own_session.h.
  return launch::RunInOwnSession([&parsed] {
    launch::LaunchedJob job(std::move(parsed.options));
    absl::StatusOr<int> status = job.Run();
    if (!status.ok()) {
      log::Error(absl::StrCat(status.status().message(),
                              "; check that the command exists and is executable"));
      return 127;
    }
    return *status;
  });
}

}  // namespace pmi_shim::cli
