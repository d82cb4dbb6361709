#include "bridge/cli/diagnose_command.h"

#include <boost/program_options.hpp>
#include <fstream>
#include <iostream>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "bridge/cli/command_line.h"
#include "bridge/diagnose/container_facts.h"
#include "bridge/diagnose/host_analysis.h"
#include "bridge/diagnose/host_env_source.h"
#include "image/image_scan.h"
#include "bridge/diagnose/verdict.h"
#include "common/log.h"

namespace pmi_shim::cli {
namespace po = boost::program_options;

namespace {

constexpr char kUsage[] =
    "Usage: pmi-bridge diagnose [--host-env FILE | --pid PID] [--rootfs DIR | --bundle DIR] [--json]\n"
    "\n"
    "Says whether the host's PMI server (from this environment, an env file or a\n"
    "process) and the PMI client in a container image can meet, and the exact fix.\n"
    "Nothing from the image is run. --json output is documented in\n"
    "bridge/diagnose/README.md.\n";

}  // namespace

int RunDiagnoseCommand(const std::vector<std::string>& args) {
  std::string host_env, rootfs, bundle;
  int pid = 0;
  bool json = false;
  po::options_description description("Options");
  description.add_options()
      ("host-env", po::value<std::string>(&host_env), "read the host environment from FILE (KEY=VALUE lines or NUL-separated)")
      ("pid", po::value<int>(&pid), "read the host environment of process PID (/proc/PID/environ)")
      ("rootfs", po::value<std::string>(&rootfs), "the image's root filesystem")
      ("bundle", po::value<std::string>(&bundle), "an OCI bundle (config.json + rootfs): also reads network and user namespaces")
      ("json", po::bool_switch(&json), "machine-readable output");
  if (std::optional<int> done = ParseVerbOptions("diagnose", args, description, kUsage)) {
    return *done;
  }
  if (!host_env.empty() && pid != 0) return UsageError("diagnose", "give --host-env or --pid, not both");
  if (!rootfs.empty() && !bundle.empty()) return UsageError("diagnose", "give --rootfs or --bundle, not both");

  absl::StatusOr<upstream::Environment> env;
  std::string source = "environment";
  if (!host_env.empty()) {
    env = diagnose::EnvironmentFromFile(host_env);
    source = absl::StrCat("file ", host_env);
  } else if (pid != 0) {
    env = diagnose::EnvironmentOfPid(pid);
    source = absl::StrCat("pid ", pid);
  } else {
    env = diagnose::OwnEnvironment();
  }
  if (!env.ok()) {
    log::Error(std::string(env.status().message()));
    return 1;
  }
  diagnose::HostReport host = diagnose::AnalyzeHost(*env, source);

  diagnose::ContainerFacts container;
  std::optional<image::ImageReport> image;
  const std::string image_dir = bundle.empty() ? rootfs : bundle;
  if (!bundle.empty()) {
    std::ifstream in(bundle + "/config.json");
    std::stringstream text;
    text << in.rdbuf();
    absl::StatusOr<diagnose::ContainerFacts> facts = diagnose::ParseContainerFacts(text.str());
    if (!in || !facts.ok()) {
      log::Error(absl::StrCat(bundle, "/config.json cannot be read as an OCI config; give --rootfs DIR instead"));
      return 1;
    }
    container = *facts;
  }
  if (!image_dir.empty()) {
    absl::StatusOr<image::ImageReport> scanned = image::ScanImage(image_dir);
    if (!scanned.ok()) {
      log::Error(std::string(scanned.status().message()));
      return 1;
    }
    image = *std::move(scanned);
  }

  std::optional<diagnose::Verdict> verdict;
  if (image.has_value()) verdict = diagnose::Decide(host, *image, container);
  if (json) {
    nlohmann::json out = {{"schema", "pmi-shim.diagnose/1"},
                          {"host", diagnose::HostReportToJson(host)},
                          {"container", diagnose::ContainerFactsToJson(container)},
                          {"image", image ? image::ImageReportToJson(*image) : nlohmann::json()},
                          {"verdict", verdict ? diagnose::VerdictToJson(*verdict) : nlohmann::json()}};
    std::cout << out.dump(2) << "\n";
    return 0;
  }
  std::cout << diagnose::FormatHostReport(host);
  if (container.known) {
    std::cout << "Container: network " << container.network << (container.user_namespace ? ", user namespace" : "")
              << (container.uid_remapped ? " (uids remapped)" : "") << (container.private_ipc ? ", private IPC" : "")
              << "\n";
  }
  if (image) {
    std::cout << image::FormatImageReport(*image) << diagnose::FormatVerdict(*verdict);
  } else {
    std::cout << "(no --rootfs/--bundle: give the image to get a verdict)\n";
  }
  return 0;
}

}  // namespace pmi_shim::cli
