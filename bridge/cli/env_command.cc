#include "bridge/cli/env_command.h"

#include <unistd.h>

#include <boost/program_options.hpp>
#include <cstdlib>
#include <iostream>

#include "absl/strings/str_cat.h"
#include "bridge/cli/command_line.h"
#include "bridge/engines/engine_command.h"
#include "bridge/engines/shell_words.h"
#include "common/log.h"
#include "common/rendezvous.h"
#include "nlohmann/json.hpp"

namespace pmi_shim::cli {
namespace po = boost::program_options;

namespace {

constexpr char kUsage[] =
    "Usage: pmi-bridge env --for ENGINE [--dir RANKDIR] [--tools DIR] [--json|--flags|--prefix]\n"
    "\n"
    "Prints what to add to an engine's command line so that the container sees\n"
    "its rank's pmi-shim directory: the flags (before the image) and the prefix\n"
    "(before the container's command). Use it inside `pmi-bridge exec -- sh -c`\n"
    "when you write the engine command yourself, e.g.\n"
    "\n"
    "  pmi-bridge exec -- sh -c 'apptainer exec $(pmi-bridge env --for apptainer --flags) \\\n"
    "      app.sif $(pmi-bridge env --for apptainer --prefix) ./app'\n"
    "\n"
    "ENGINE: apptainer, singularity, charliecloud (ch-run), podman, docker.\n";

struct ParsedEnv {
  std::string engine;
  std::string dir;
  std::string tools;
  bool json = false;
  bool flags_only = false;
  bool prefix_only = false;
  bool tools_given = false;  // --tools "" means: the site binds it already
};

po::options_description EnvOptionsDescription(ParsedEnv& parsed) {
  po::options_description description("Options");
  description.add_options()("for", po::value<std::string>(&parsed.engine),
                            "the engine: apptainer|singularity|charliecloud|podman|docker")(
      "dir", po::value<std::string>(&parsed.dir),
      "the rank's directory (default: $PMI_SHIM_DIR, set by pmi-bridge exec)")(
      "tools", po::value<std::string>(&parsed.tools)->notifier([&parsed](const std::string&) {
        parsed.tools_given = true;
      }),
      "host directory holding bin/pmi-shim-client, mounted at /opt/pmi-shim (default: "
      "PREFIX/libexec/pmi-shim of this install; empty: the site binds it already)")(
      "json", po::bool_switch(&parsed.json), "print one JSON object")(
      "flags", po::bool_switch(&parsed.flags_only), "print only the flags, as shell words")(
      "prefix", po::bool_switch(&parsed.prefix_only), "print only the prefix, as shell words");
  return description;
}

// <prefix>/bin/pmi-bridge -> <prefix>: pmi-shim-client is installed beside us.
std::string InstallPrefix() {
  char buffer[4096];
  const ssize_t length = ::readlink("/proc/self/exe", buffer, sizeof(buffer) - 1);
  if (length <= 0) return "";
  std::string path(buffer, static_cast<size_t>(length));
  for (int i = 0; i < 2; ++i) {
    const size_t slash = path.rfind('/');
    if (slash == std::string::npos || slash == 0) return "/";
    path.resize(slash);
  }
  return path;
}

std::vector<std::string> Example(engines::Engine engine,
                                 const engines::EngineAdditions& additions) {
  std::vector<std::string> example;
  switch (engine) {
    case engines::Engine::kCharliecloud:
      example = {"ch-run"};
      break;
    case engines::Engine::kPodman:
    case engines::Engine::kDocker:
      example = {std::string(engines::EngineName(engine)), "run"};
      break;
    default:
      example = {std::string(engines::EngineName(engine)), "exec"};
      break;
  }
  example.insert(example.end(), additions.flags.begin(), additions.flags.end());
  example.push_back("IMAGE");
  if (engine == engines::Engine::kCharliecloud) example.push_back("--");
  example.insert(example.end(), additions.prefix.begin(), additions.prefix.end());
  example.push_back("APP");
  return example;
}

// deploy/install.sh puts the mountable tools dir at PREFIX/libexec/pmi-shim;
// a plain PREFIX/bin works too.
std::string InstalledToolsDir() {
  const std::string prefix = InstallPrefix();
  const std::string dedicated = absl::StrCat(prefix, "/libexec/pmi-shim");
  if (::access(absl::StrCat(dedicated, "/bin/pmi-shim-client").c_str(), X_OK) == 0) {
    return dedicated;
  }
  if (::access(absl::StrCat(prefix, "/bin/pmi-shim-client").c_str(), X_OK) == 0) return prefix;
  log::Warning(absl::StrCat("env: no bin/pmi-shim-client under ", dedicated, " or ", prefix,
                            "; pass --tools DIR (the directory holding bin/pmi-shim-client)"));
  return dedicated;
}

void PrintEnvJson(engines::Engine engine, const ParsedEnv& parsed,
                  const engines::EngineAdditions& additions,
                  const std::vector<std::string>& example) {
  nlohmann::json out;
  out["engine"] = std::string(engines::EngineName(engine));
  out["dir"] = parsed.dir;
  out["tools"] = parsed.tools;
  out["flags"] = additions.flags;
  out["prefix"] = additions.prefix;
  out["environment"] = nlohmann::json::object();
  for (const auto& [key, value] : additions.engine_environment) out["environment"][key] = value;
  out["example"] = example;
  out["notes"] = additions.notes;
  std::cout << out.dump() << "\n";
}

void PrintEnvText(const engines::EngineAdditions& additions,
                  const std::vector<std::string>& example) {
  std::cout << "flags:   " << engines::JoinShellWords(additions.flags) << "\n"
            << "prefix:  " << engines::JoinShellWords(additions.prefix) << "\n";
  for (const auto& [key, value] : additions.engine_environment) {
    std::cout << "or env:  " << engines::QuoteShellWord(absl::StrCat(key, "=", value))
              << "  (instead of --env)\n";
  }
  std::cout << "example: " << engines::JoinShellWords(example) << "\n";
  for (const std::string& note : additions.notes) std::cout << "note:    " << note << "\n";
}

}  // namespace

int RunEnvCommand(const std::vector<std::string>& args) {
  ParsedEnv parsed;
  po::options_description description = EnvOptionsDescription(parsed);
  if (std::optional<int> done = ParseVerbOptions("env", args, description, kUsage)) {
    return *done;
  }
  if (parsed.engine.empty()) return UsageError("env", "missing --for ENGINE");
  const std::optional<engines::Engine> engine = engines::ParseEngineName(parsed.engine);
  if (!engine.has_value()) {
    return UsageError("env", absl::StrCat("--for ", parsed.engine,
                                          " is not one of apptainer|singularity|charliecloud|"
                                          "podman|docker"));
  }
  if (int(parsed.json) + int(parsed.flags_only) + int(parsed.prefix_only) > 1) {
    return UsageError("env", "--json, --flags and --prefix exclude each other");
  }
  if (parsed.dir.empty()) {
    const char* from_env = std::getenv(rendezvous::kDirVariable);
    if (from_env == nullptr || *from_env == '\0') {
      return UsageError("env", absl::StrCat("no --dir and ", rendezvous::kDirVariable,
                                            " is not set; run it under 'pmi-bridge exec' or "
                                            "pass --dir RANKDIR"));
    }
    parsed.dir = from_env;
  }
  if (!parsed.tools_given) parsed.tools = InstalledToolsDir();

  engines::EngineContext context;
  context.rank_dir = parsed.dir;
  context.tools_dir = parsed.tools;
  context.env = {{rendezvous::kDirVariable, parsed.dir}};
  absl::StatusOr<engines::EngineAdditions> additions = engines::AdditionsFor(*engine, context);
  if (!additions.ok()) {
    log::Error(absl::StrCat("env: ", additions.status().message()));
    return 1;
  }
  if (parsed.flags_only || parsed.prefix_only) {
    const std::vector<std::string>& words =
        parsed.flags_only ? additions->flags : additions->prefix;
    std::cout << engines::JoinShellWords(words) << "\n";
  } else if (parsed.json) {
    PrintEnvJson(*engine, parsed, *additions, Example(*engine, *additions));
  } else {
    PrintEnvText(*additions, Example(*engine, *additions));
  }
  return 0;
}

}  // namespace pmi_shim::cli
