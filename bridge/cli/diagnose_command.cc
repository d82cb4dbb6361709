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
#include "bridge/diagnose/verdict.h"
#include "common/log.h"
#include "image/image_scan.h"

namespace pmi_shim::cli {
namespace po = boost::program_options;

namespace {

constexpr char kUsage[] =
    "Usage: pmi-bridge diagnose [--host-env FILE | --pid PID] [--rootfs DIR | --bundle DIR] "
    "[--json]\n"
    "\n"
    "Says whether the host's PMI server (from this environment, an env file or a\n"
    "process) and the PMI client in a container image can meet, and the exact fix.\n"
    "Nothing from the image is run. --json output is documented in\n"
    "bridge/diagnose/README.md.\n";

struct DiagnoseOptions {
  std::string host_env, rootfs, bundle;
  int pid = 0;
  bool json = false;
};

// The host environment the options name, and how to call its source.
absl::StatusOr<upstream::Environment> HostEnvironment(const DiagnoseOptions& options,
                                                      std::string& source) {
  source = "environment";
  if (!options.host_env.empty()) {
    source = absl::StrCat("file ", options.host_env);
    return diagnose::EnvironmentFromFile(options.host_env);
  }
  if (options.pid != 0) {
    source = absl::StrCat("pid ", options.pid);
    return diagnose::EnvironmentOfPid(options.pid);
  }
  return diagnose::OwnEnvironment();
}

// The bundle's config.json as container facts; unknown facts without one.
absl::StatusOr<diagnose::ContainerFacts> ReadContainerFacts(const std::string& bundle) {
  if (bundle.empty()) return diagnose::ContainerFacts();
  std::ifstream in(bundle + "/config.json");
  std::stringstream text;
  text << in.rdbuf();
  absl::StatusOr<diagnose::ContainerFacts> facts = diagnose::ParseContainerFacts(text.str());
  if (!in || !facts.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(
        bundle, "/config.json cannot be read as an OCI config; give --rootfs DIR instead"));
  }
  return facts;
}

void PrintJson(const diagnose::HostReport& host, const diagnose::ContainerFacts& container,
               const std::optional<image::ImageReport>& image,
               const std::optional<diagnose::Verdict>& verdict) {
  nlohmann::json out = {
      {"schema", "pmi-shim.diagnose/1"},
      {"host", diagnose::HostReportToJson(host)},
      {"container", diagnose::ContainerFactsToJson(container)},
      {"image", image ? image::ImageReportToJson(*image) : nlohmann::json()},
      {"verdict", verdict ? diagnose::VerdictToJson(*verdict) : nlohmann::json()}};
  std::cout << out.dump(2) << "\n";
}

void PrintText(const diagnose::HostReport& host, const diagnose::ContainerFacts& container,
               const std::optional<image::ImageReport>& image,
               const std::optional<diagnose::Verdict>& verdict) {
  std::cout << diagnose::FormatHostReport(host);
  if (container.known) {
    std::cout << "Container: network " << container.network
              << (container.user_namespace ? ", user namespace" : "")
              << (container.uid_remapped ? " (uids remapped)" : "")
              << (container.private_ipc ? ", private IPC" : "") << "\n";
  }
  if (image) {
    std::cout << image::FormatImageReport(*image) << diagnose::FormatVerdict(*verdict);
  } else {
    std::cout << "(no --rootfs/--bundle: give the image to get a verdict)\n";
  }
}

}  // namespace

int RunDiagnoseCommand(const std::vector<std::string>& args) {
  DiagnoseOptions options;
  po::options_description description("Options");
  description.add_options()(
      "host-env", po::value<std::string>(&options.host_env),
      "read the host environment from FILE (KEY=VALUE lines or NUL-separated)")(
      "pid", po::value<int>(&options.pid),
      "read the host environment of process PID (/proc/PID/environ)")(
      "rootfs", po::value<std::string>(&options.rootfs), "the image's root filesystem")(
      "bundle", po::value<std::string>(&options.bundle),
      "an OCI bundle (config.json + rootfs): also reads network and user namespaces")(
      "json", po::bool_switch(&options.json), "machine-readable output");
  if (std::optional<int> done = ParseVerbOptions("diagnose", args, description, kUsage)) {
    return *done;
  }
  if (!options.host_env.empty() && options.pid != 0) {
    return UsageError("diagnose", "give --host-env or --pid, not both");
  }
  if (!options.rootfs.empty() && !options.bundle.empty()) {
    return UsageError("diagnose", "give --rootfs or --bundle, not both");
  }
  std::string source;
  absl::StatusOr<upstream::Environment> env = HostEnvironment(options, source);
  if (!env.ok()) {
    log::Error(std::string(env.status().message()));
    return 1;
  }
  const diagnose::HostReport host = diagnose::AnalyzeHost(*env, source);
  absl::StatusOr<diagnose::ContainerFacts> container = ReadContainerFacts(options.bundle);
  if (!container.ok()) {
    log::Error(std::string(container.status().message()));
    return 1;
  }
  std::optional<image::ImageReport> image;
  const std::string image_dir = options.bundle.empty() ? options.rootfs : options.bundle;
  if (!image_dir.empty()) {
    absl::StatusOr<image::ImageReport> scanned = image::ScanImage(image_dir);
    if (!scanned.ok()) {
      log::Error(std::string(scanned.status().message()));
      return 1;
    }
    image = *std::move(scanned);
  }
  std::optional<diagnose::Verdict> verdict;
  if (image.has_value()) verdict = diagnose::Decide(host, *image, *container);
  if (options.json) {
    PrintJson(host, *container, image, verdict);
  } else {
    PrintText(host, *container, image, verdict);
  }
  return 0;
}

}  // namespace pmi_shim::cli
