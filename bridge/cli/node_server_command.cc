#include "bridge/cli/node_server_command.h"

#include <unistd.h>

#include <cstdio>

#include <boost/program_options.hpp>

#include "absl/strings/str_cat.h"
#include "bridge/cli/command_line.h"
#include "bridge/node/node_server.h"
#include "common/event_loop.h"
#include "common/log.h"

namespace pmi_shim::cli {
namespace po = boost::program_options;

namespace {

constexpr char kUsage[] =
    "Usage: pmi-bridge node-server --dir NODE_DIR [--ready-fd N]\n"
    "\n"
    "The PMIx server of one node for one job: `pmi-bridge exec` starts it for\n"
    "the first rank of a node whose program is a PMIx client under a PMI-1/PMI-2\n"
    "launcher, and the node's other bridges join it over NODE_DIR/control.sock.\n"
    "It ends when the node's last rank has ended. Not meant to be run by hand.\n";

}  // namespace

int RunNodeServerCommand(const std::vector<std::string>& args) {
  std::string directory;
  int ready_fd = -1;
  int verbose = 0;
  po::options_description description("Options");
  description.add_options()("dir", po::value<std::string>(&directory)->required(),
                            "the node directory")("ready-fd", po::value<int>(&ready_fd),
                                                  "write one byte here once listening")(
      "verbose,v", po::value<int>(&verbose)->implicit_value(1)->zero_tokens()->composing(),
      "more output on stderr");
  if (std::optional<int> done = ParseVerbOptions("node-server", args, description, kUsage)) {
    return *done;
  }
  log::SetVerbosity(verbose);
  EventLoop loop;
  node::NodeServer::Options options;
  options.directory = directory;
  absl::StatusOr<std::unique_ptr<node::NodeServer>> server =
      node::NodeServer::Start(loop, std::move(options));
  if (!server.ok()) {
    log::Error(absl::StrCat("node server: ", server.status().message()));
    return 1;
  }
  if (ready_fd >= 0) {
    (void)!::write(ready_fd, "r", 1);
    ::close(ready_fd);
  }
  absl::Status ran = loop.Run();
  if (!ran.ok()) {
    log::Error(absl::StrCat("node server: ", ran.message()));
    return 1;
  }
  const bool clean = (*server)->clean();
  server->reset();
  if (!clean) {
    // The node's job failed: libpmix was left running (PmixServer::Stop; its
    // finalize may crash then) and everything of ours is cleaned up. End at
    // once: a launcher that already ended the ranks must not find this
    // process still going through exit-time work (leak checks in sanitizer
    // builds take longer than a launcher waits).
    std::fflush(stderr);
    ::_exit(1);
  }
  return 0;
}

}  // namespace pmi_shim::cli
