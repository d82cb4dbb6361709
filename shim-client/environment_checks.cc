#include "shim-client/environment_checks.h"

#include <algorithm>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace pmi_shim::shim_client {
namespace {

bool Has(const EnvironmentFacts& facts, const std::string& key) { return facts.env.count(key) > 0; }

std::string Get(const EnvironmentFacts& facts, const std::string& key) {
  auto it = facts.env.find(key);
  return it == facts.env.end() ? "" : it->second;
}

bool IsSingularityFamily(Engine engine) {
  return engine == Engine::kApptainer || engine == Engine::kSingularity;
}

bool HasAnyRendezvousVariable(const EnvironmentFacts& facts) {
  for (const auto& [key, value] : facts.env) {
    if (key == "PMI_FD" && !facts.dead_pmi_fd.empty()) continue;  // a number, no socket
    if (key == "PMI_FD" || key == "PMI_PORT" || absl::StartsWith(key, "PMIX_SERVER_URI") ||
        key == "PMIX_NAMESPACE") {
      return true;
    }
  }
  return false;
}

// How to carry the directory in, for the engine at hand.
std::string CarryInFix(Engine engine) {
  switch (engine) {
    case Engine::kApptainer:
    case Engine::kSingularity:
      return "pass PMI_SHIM_DIR (--env PMI_SHIM_DIR=$PMI_SHIM_DIR or "
             "APPTAINERENV_PMI_SHIM_DIR=$PMI_SHIM_DIR) and --bind $PMI_SHIM_DIR";
    case Engine::kCharliecloud:
      return "ch-run passes PMI_SHIM_DIR through; bind the directory with "
             "-b $PMI_SHIM_DIR:$PMI_SHIM_DIR";
    case Engine::kPodman:
    case Engine::kDocker:
      return "pass --env PMI_SHIM_DIR and enable pmi-shim-hook for this container "
             "(--annotation org.pmi-shim.enable=true, or Docker's pmi-shim runtime), which "
             "mounts the directory at /run/pmi-shim";
    case Engine::kUnknown:
      break;
  }
  return "pass PMI_SHIM_DIR into the container (podman/docker: --env PMI_SHIM_DIR; apptainer: "
         "--env PMI_SHIM_DIR=$PMI_SHIM_DIR or APPTAINERENV_PMI_SHIM_DIR; ch-run passes env "
         "through), and bind the directory (pmi-shim-hook mounts it at /run/pmi-shim; "
         "apptainer: --bind $PMI_SHIM_DIR; ch-run: -b $PMI_SHIM_DIR:$PMI_SHIM_DIR)";
}

std::optional<Finding> CheckSingletons(const EnvironmentFacts& facts, Engine engine) {
  if (facts.rendezvous_dir.has_value() || HasAnyRendezvousVariable(facts)) return std::nullopt;
  Finding finding;
  finding.severity = Finding::Severity::kFatal;
  finding.code = "n-singletons";
  const std::string symptom = "so each rank would start as rank 0 of 1 (the N-singletons symptom)";
  const std::string searched = absl::StrJoin(facts.searched_dirs, " or ");
  if (Has(facts, "PMI_SHIM_DIR")) {
    // The variable crossed, the directory did not.
    finding.code = "rendezvous-not-mounted";
    finding.message = absl::StrCat(
        "PMI_SHIM_DIR=", Get(facts, "PMI_SHIM_DIR"), " is set but no rendezvous (env file) is at ",
        searched,
        facts.dead_pmi_fd.empty()
            ? ""
            : absl::StrCat(" and the inherited PMI_FD is unusable (", facts.dead_pmi_fd, ")"),
        ", ", symptom, "; the directory is not mounted into the container: ", CarryInFix(engine));
    return finding;
  }
  std::string cause;
  if (LooksLikeSingularityOciMode(facts)) {
    cause =
        "SingularityCE OCI mode (--oci) starts from the image's environment only, so no "
        "PMI variable reached it; ";
  } else if (IsSingularityFamily(engine)) {
    cause = absl::StrCat(EngineName(engine),
                         " passes the host environment through unless --cleanenv (-e) or "
                         "--containall (-C) strips it; ");
  }
  finding.message = absl::StrCat(
      "no PMI rendezvous: nothing at ", searched.empty() ? "/run/pmi-shim" : searched,
      " and no PMI_SHIM_DIR, PMI_FD, PMI_PORT or PMIX_SERVER_URI* in the environment, ", symptom,
      "; ", cause, CarryInFix(engine));
  return finding;
}

std::optional<Finding> CheckOciMode(const EnvironmentFacts& facts) {
  if (!LooksLikeSingularityOciMode(facts)) return std::nullopt;
  return Finding{Finding::Severity::kWarning, "singularity-oci-mode",
                 "this looks like SingularityCE OCI mode (--oci: SINGULARITY_CONTAINER without "
                 "SINGULARITY_COMMAND): host environment, /tmp, IPC and PID namespaces are "
                 "private, so PMI variables, PMIx tmpdirs and shared memory between ranks are "
                 "lost; add --no-compat (native defaults) or run without --oci"};
}

std::optional<Finding> CheckTmp(const EnvironmentFacts& facts, Engine engine) {
  if (facts.host_tmp.empty() || (facts.tmp.has_value() && *facts.tmp == facts.host_tmp)) {
    return std::nullopt;
  }
  std::string fix;
  switch (engine) {
    case Engine::kApptainer:
    case Engine::kSingularity:
      fix = LooksLikeSingularityOciMode(facts)
                ? "add --no-compat or --bind /tmp"
                : "drop --contain/--containall (-c/-C) or add --bind /tmp";
      break;
    case Engine::kCharliecloud:
      fix = "drop ch-run --private-tmp";
      break;
    case Engine::kPodman:
    case Engine::kDocker:
      fix = "add -v /tmp:/tmp";
      break;
    case Engine::kUnknown:
      fix = "bind the host's /tmp into the container";
      break;
  }
  const std::string what =
      facts.tmp.has_value() ? "this container has a private /tmp" : "this container has no /tmp";
  return Finding{Finding::Severity::kWarning, "private-tmp",
                 absl::StrCat(what, " (not the host's ", facts.host_tmp,
                              "): PMIx shared-memory datastores and MPI session files there are "
                              "not shared with the other ranks of this node (PMIx clients then "
                              "need PMIX_MCA_gds=hash); ",
                              fix)};
}

std::optional<Finding> CheckIpc(const EnvironmentFacts& facts, Engine engine) {
  if (facts.host_ipc_ns.empty() || facts.ipc_ns.empty() || facts.ipc_ns == facts.host_ipc_ns) {
    return std::nullopt;
  }
  std::string fix;
  switch (engine) {
    case Engine::kApptainer:
    case Engine::kSingularity:
      fix = LooksLikeSingularityOciMode(facts)
                ? "add --no-compat or run without --oci"
                : "drop --ipc (-i) and --containall (-C): the host IPC namespace is shared by "
                  "default (use --contain --cleanenv --pid if you need the rest of -C)";
      break;
    case Engine::kPodman:
    case Engine::kDocker:
      fix = "add --ipc=host";
      break;
    case Engine::kCharliecloud:
    case Engine::kUnknown:
      fix = "run the container in the host's IPC namespace";
      break;
  }
  return Finding{Finding::Severity::kWarning, "private-ipc",
                 absl::StrCat("this container has its own IPC namespace (", facts.ipc_ns,
                              ", the bridge's is ", facts.host_ipc_ns,
                              "): System V shared memory is not shared with ranks in other "
                              "containers, so MPICH/Open MPI shared-memory transports between "
                              "ranks of this node fail; ",
                              fix)};
}

std::optional<Finding> CheckShm(const EnvironmentFacts& facts, Engine engine) {
  std::string fix;
  switch (engine) {
    case Engine::kApptainer:
    case Engine::kSingularity:
      fix = "drop --contain/--containall (-c/-C) or add --bind /dev/shm";
      break;
    case Engine::kPodman:
    case Engine::kDocker:
      fix = "add --ipc=host (or -v /dev/shm:/dev/shm)";
      break;
    case Engine::kCharliecloud:
    case Engine::kUnknown:
      fix = "bind the host's /dev/shm into the container";
      break;
  }
  if (!facts.shm.has_value()) {
    return Finding{Finding::Severity::kWarning, "no-dev-shm",
                   absl::StrCat("this container has no /dev/shm: MPICH and Open MPI cannot create "
                                "shared-memory segments between ranks of this node; ",
                                fix)};
  }
  if (facts.host_shm.empty() || *facts.shm == facts.host_shm) return std::nullopt;
  return Finding{Finding::Severity::kWarning, "private-dev-shm",
                 absl::StrCat("this container has a private /dev/shm (", *facts.shm,
                              ", the bridge's is ", facts.host_shm,
                              "): ranks in other containers cannot map its POSIX shared-memory "
                              "segments, so MPICH/Open MPI shared-memory transports fail; ",
                              fix)};
}

std::optional<Finding> CheckUserNs(const EnvironmentFacts& facts, Engine engine) {
  if (facts.host_user_ns.empty() || facts.user_ns.empty() || facts.user_ns == facts.host_user_ns) {
    return std::nullopt;
  }
  std::string fix;
  switch (engine) {
    case Engine::kCharliecloud:
      fix = "run the ranks with ch-run --join";
      break;
    case Engine::kApptainer:
    case Engine::kSingularity:
      fix = "add --sharens (or use setuid mode)";
      break;
    case Engine::kPodman:
    case Engine::kDocker:
    case Engine::kUnknown:
      fix = "run the ranks of a node in one user namespace";
      break;
  }
  return Finding{Finding::Severity::kWarning, "private-user-ns",
                 absl::StrCat("this container has its own user namespace (", facts.user_ns,
                              ", the bridge's is ", facts.host_user_ns,
                              "): single-copy transfers between ranks of this node "
                              "(process_vm_readv/CMA) fail with EPERM; ",
                              fix,
                              ", or turn them off (OMPI_MCA_btl_vader_single_copy_mechanism="
                              "none, UCX_TLS without cma)")};
}

std::optional<Finding> CheckAmbiguousLauncher(const EnvironmentFacts& facts) {
  if (facts.rendezvous_dir.has_value()) return std::nullopt;  // exec rewrites the env
  if (!Has(facts, "PMI_SIZE") || !Has(facts, "PMIX_NAMESPACE")) return std::nullopt;
  return Finding{Finding::Severity::kWarning, "ambiguous-launcher",
                 "both PMI_SIZE and PMIX_NAMESPACE are set: MPICH refuses to start (ambiguous "
                 "launcher) and picks neither; unset the variables of the launcher you are not "
                 "using (or set MPIR_CVAR_PMI_VERSION)"};
}

}  // namespace

Engine DetectEngine(const EnvironmentFacts& facts) {
  if (Has(facts, "APPTAINER_CONTAINER") || Has(facts, "APPTAINER_NAME")) return Engine::kApptainer;
  if (Has(facts, "SINGULARITY_CONTAINER") || Has(facts, "SINGULARITY_NAME")) {
    return Engine::kSingularity;
  }
  if (Has(facts, "CH_RUNNING")) return Engine::kCharliecloud;
  if (Get(facts, "container") == "podman" || facts.has_containerenv) return Engine::kPodman;
  if (facts.has_dockerenv) return Engine::kDocker;
  return Engine::kUnknown;
}

absl::string_view EngineName(Engine engine) {
  switch (engine) {
    case Engine::kApptainer:
      return "Apptainer";
    case Engine::kSingularity:
      return "Singularity";
    case Engine::kCharliecloud:
      return "Charliecloud";
    case Engine::kPodman:
      return "Podman";
    case Engine::kDocker:
      return "Docker";
    case Engine::kUnknown:
      break;
  }
  return "unknown engine";
}

bool LooksLikeSingularityOciMode(const EnvironmentFacts& facts) {
  const bool singularity = Has(facts, "SINGULARITY_CONTAINER") || Has(facts, "SINGULARITY_NAME");
  const bool native_markers =
      Has(facts, "SINGULARITY_COMMAND") || Has(facts, "SINGULARITY_ENVIRONMENT") ||
      Has(facts, "APPTAINER_COMMAND") || Has(facts, "APPTAINER_ENVIRONMENT");
  return singularity && !native_markers;
}

std::vector<Finding> CheckEnvironment(const EnvironmentFacts& facts) {
  const Engine engine = DetectEngine(facts);
  std::vector<Finding> findings;
  for (std::optional<Finding> finding :
       {CheckSingletons(facts, engine), CheckOciMode(facts), CheckAmbiguousLauncher(facts),
        CheckTmp(facts, engine), CheckIpc(facts, engine), CheckShm(facts, engine),
        CheckUserNs(facts, engine)}) {
    if (finding.has_value()) findings.push_back(*std::move(finding));
  }
  std::stable_sort(findings.begin(), findings.end(), [](const Finding& a, const Finding& b) {
    return a.severity == Finding::Severity::kFatal && b.severity != Finding::Severity::kFatal;
  });
  return findings;
}

bool HasFatal(const std::vector<Finding>& findings) {
  return std::any_of(findings.begin(), findings.end(),
                     [](const Finding& f) { return f.severity == Finding::Severity::kFatal; });
}

}  // namespace pmi_shim::shim_client
