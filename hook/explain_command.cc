#include "hook/explain_command.h"

#include <boost/program_options.hpp>
#include <iostream>

#include "absl/strings/str_cat.h"
#include "common/log.h"
#include "common/status_macros.h"
#include "hook/admin_config.h"
#include "hook/environment.h"
#include "hook/explain.h"
#include "hook/host_path_check.h"
#include "hook/json_input.h"
#include "hook/oci_config.h"
#include "hook/paths.h"
#include "hook/planner.h"
#include "hook/runtime_wrapper.h"

namespace pmi_shim::hook {
namespace po = boost::program_options;
namespace {

constexpr char kUsage[] =
    "Usage: pmi-shim-hook explain --bundle DIR [--state FILE] [--config FILE] [--json]\n"
    "\n"
    "Shows what pmi-shim-hook would do to the container in bundle DIR: whether\n"
    "it asks for pmi-shim and why, the mounts, relays and notes of the plan, and\n"
    "the config.json changes of runtime mode. Changes nothing.\n";

struct ExplainArgs {
  std::string bundle;
  std::string state_file;
  std::string config_path = kDefaultAdminConfigPath;
  bool config_given = false;
  bool json = false;
};

absl::StatusOr<OciState> StateFor(const ExplainArgs& args, const std::string& bundle) {
  OciState state;
  if (!args.state_file.empty()) {
    ASSIGN_OR_RETURN(std::string text, ReadBoundedFile(args.state_file));
    ASSIGN_OR_RETURN(state, ParseState(text, args.state_file));
  } else {
    state.id = bundle.substr(bundle.rfind('/') + 1);  // runc's default id
  }
  state.bundle = bundle;
  return state;
}

absl::StatusOr<Explanation> Explain(const ExplainArgs& args) {
  const std::string bundle = NormalizePath(SelfWorkingDirectory(), args.bundle);
  ASSIGN_OR_RETURN(OciState state, StateFor(args, bundle));
  ASSIGN_OR_RETURN(AdminConfig admin, LoadAdminConfig(args.config_path, args.config_given));
  const std::string config_path = bundle + "/config.json";
  ASSIGN_OR_RETURN(std::string text, ReadBoundedFile(config_path));
  ASSIGN_OR_RETURN(nlohmann::json raw, ParseJsonObject(text, config_path));
  ASSIGN_OR_RETURN(ContainerConfig config, ConfigFromJson(raw, config_path, bundle));
  Explanation explanation{state.id, bundle, Decide(config, admin.gating), std::nullopt,
                          "",       {},     StrandedPmiFdNote(config)};
  if (!explanation.decision.asked) return explanation;
  // The on-disk checks only read (realpath, lstat): what the applier will see.
  absl::StatusOr<Plan> plan =
      BuildPlan(state, config, admin, {ResolveToolsDir(admin), CheckHostPathOnDisk});
  if (!plan.ok()) {
    explanation.plan_error = std::string(plan.status().message());
    return explanation;
  }
  ConfigEditOptions edit_options{SelfExecutable(),
                                 NormalizePath(SelfWorkingDirectory(), args.config_path),
                                 admin.entrypoint_prefix};
  explanation.runtime_changes = EditConfigForPlan(raw, *plan, edit_options).changes;
  explanation.plan = std::move(*plan);
  return explanation;
}

}  // namespace

int RunExplainCommand(const std::vector<std::string>& args) {
  ExplainArgs parsed;
  bool help = false;
  po::options_description description("Options");
  description.add_options()("help,h", po::bool_switch(&help), "show this help")(
      "bundle", po::value<std::string>(&parsed.bundle), "the OCI bundle (holds config.json)")(
      "state", po::value<std::string>(&parsed.state_file),
      "an OCI state JSON file (as a hook gets on stdin); default: none (pid unknown)")(
      "config", po::value<std::string>(&parsed.config_path),
      "admin config (default /etc/pmi-shim/hook.json)")("json", po::bool_switch(&parsed.json),
                                                        "print JSON instead of text");
  try {
    po::variables_map values;
    po::store(po::command_line_parser(args).options(description).run(), values);
    po::notify(values);
    parsed.config_given = values.count("config") > 0;
  } catch (const po::error& error) {
    log::Error(absl::StrCat("explain: ", error.what(), "; run 'pmi-shim-hook explain --help'"));
    return 2;
  }
  if (help) {
    std::cout << kUsage << "\n" << description << "\n";
    return 0;
  }
  if (parsed.bundle.empty()) {
    log::Error("explain: --bundle DIR is required; run 'pmi-shim-hook explain --help'");
    return 2;
  }
  absl::StatusOr<Explanation> explanation = Explain(parsed);
  if (!explanation.ok()) {
    log::Error(absl::StrCat("explain: ", explanation.status().message()));
    return 1;
  }
  std::cout << (parsed.json ? ExplanationToJson(*explanation).dump(2) + "\n"
                            : FormatExplanationText(*explanation));
  return 0;
}

}  // namespace pmi_shim::hook
