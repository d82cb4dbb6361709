#include "hook/cdi_command.h"

#include <fcntl.h>
#include <unistd.h>

#include <boost/program_options.hpp>
#include <cerrno>
#include <cstring>
#include <iostream>

#include "absl/strings/str_cat.h"
#include "common/log.h"
#include "common/unique_fd.h"
#include "hook/admin_config.h"
#include "hook/cdi.h"
#include "hook/environment.h"
#include "hook/paths.h"

namespace pmi_shim::hook {
namespace po = boost::program_options;
namespace {

constexpr char kUsage[] =
    "Usage: pmi-shim-hook cdi [--prefix DIR] [--output FILE]\n"
    "\n"
    "Prints (or writes) a CDI spec with one device, pmi-shim.org/shim=tools:\n"
    "DIR mounted read-only at /opt/pmi-shim and DIR/bin/pmi-shim-hook as its\n"
    "createRuntime and poststop hook. Put it in /etc/cdi or /var/run/cdi, then\n"
    "  podman run --device pmi-shim.org/shim=tools ...\n";

int Fail(const std::string& message) {
  log::Error(absl::StrCat("cdi: ", message));
  return 1;
}

int WriteOutput(const std::string& path, const std::string& text) {
  if (path.empty() || path == "-") {
    std::cout << text;
    return std::cout.good() ? 0 : Fail("cannot write to stdout");
  }
  UniqueFd fd(::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644));
  if (!fd.valid() ||
      ::write(fd.get(), text.data(), text.size()) != static_cast<ssize_t>(text.size())) {
    return Fail(absl::StrCat("cannot write ", path, ": ", std::strerror(errno)));
  }
  return 0;
}

}  // namespace

int RunCdiCommand(const std::vector<std::string>& args) {
  std::string prefix, output;
  bool help = false;
  po::options_description description("Options");
  description.add_options()("help,h", po::bool_switch(&help), "show this help")(
      "prefix", po::value<std::string>(&prefix),
      "pmi-shim's install prefix (default: the one this program runs from)")(
      "output,o", po::value<std::string>(&output), "write the spec to FILE (default stdout)");
  try {
    po::variables_map values;
    po::store(po::command_line_parser(args).options(description).run(), values);
    po::notify(values);
  } catch (const po::error& error) {
    log::Error(absl::StrCat("cdi: ", error.what(), "; run 'pmi-shim-hook cdi --help'"));
    return 2;
  }
  if (help) {
    std::cout << kUsage << "\n" << description << "\n";
    return 0;
  }
  if (prefix.empty()) prefix = ToolsDirFromExecutable(SelfExecutable());
  if (prefix.empty()) {
    return Fail(
        "cannot tell the install prefix (no bin/pmi-shim-client next to this program); "
        "pass --prefix DIR");
  }
  if (!IsNormalAbsolute(prefix)) return Fail("--prefix needs a normalized absolute path");
  return WriteOutput(output, MakeCdiSpec(prefix).dump(2) + "\n");
}

}  // namespace pmi_shim::hook
