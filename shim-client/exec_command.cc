// `pmi-shim-client exec`: carries out the ExecPlan (exec_plan.h).
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>
#include <vector>

#include <sys/socket.h>
#include <sys/time.h>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "image/image_scan.h"
#include "protocol/pmix/pmix_uri.h"
#include "image/client_detection.h"
#include "common/rendezvous.h"
#include "shim-client/family_probe.h"
#include "shim-client/inherited_fd.h"
#include "common/log.h"
#include "common/net/connector.h"
#include "shim-client/environment_checks.h"
#include "shim-client/environment_probe.h"
#include "shim-client/exec_plan.h"
#include "shim-client/pmi_handshake.h"
#include "shim-client/pmix_local_relay.h"
#include "shim-client/rendezvous_locator.h"
#include "shim-client/verbs.h"

namespace pmi_shim::shim_client {
namespace {

int Fail(absl::string_view message) {
  log::Error(message);
  return kExitSetupFailed;
}

// Replaces this process with `command`; returns only on failure.
int Exec(const std::vector<std::string>& command, const Environ& environment) {
  std::vector<char*> argv;
  for (const std::string& arg : command) argv.push_back(const_cast<char*>(arg.c_str()));
  argv.push_back(nullptr);
  std::vector<char*> envp;
  for (const std::string& entry : environment) envp.push_back(const_cast<char*>(entry.c_str()));
  envp.push_back(nullptr);
  ::execvpe(argv[0], argv.data(), envp.data());
  const int error = errno;
  if (error == ENOENT) {
    log::Error(absl::StrCat(command[0], ": command not found in this container (PATH=",
                            getenv("PATH") ? getenv("PATH") : "", "); give its full path"));
    return kExitNotFound;
  }
  log::Error(absl::StrCat("cannot run ", command[0], ": ", std::strerror(error),
                          "; check that it is an executable for this container"));
  return kExitNotExecutable;
}

int ExecThroughPmiSocket(const CommandLine& line, ExecPlan plan) {
  absl::StatusOr<UniqueFd> socket = net::ConnectUnix(plan.pmi_socket);
  if (!socket.ok()) {
    return Fail(absl::StrCat("cannot reach this rank's PMI server: ", socket.status().message(),
                             "; is `pmi-bridge exec` still running for this rank, and is the "
                             "directory mounted read-write?"));
  }
  // The application's PMI library takes the socket over by number.
  const int fd = socket->Release();
  const int flags = ::fcntl(fd, F_GETFD);
  if (flags < 0 || ::fcntl(fd, F_SETFD, flags & ~FD_CLOEXEC) != 0) {
    return Fail(absl::StrCat("fcntl(FD_CLOEXEC) on the PMI socket: ", std::strerror(errno)));
  }
  SetEnv(plan.environment, "PMI_FD", std::to_string(fd));
  log::Debug(absl::StrCat(plan.description, ", PMI_FD=", fd));
  return Exec(line.command, plan.environment);
}

int ExecWithPmix(const CommandLine& line, ExecPlan plan) {
  absl::StatusOr<pmix::PmixUri> uri = pmix::ParsePmixUri(plan.pmix_uri);
  if (!uri.ok()) return Fail(uri.status().message());
  char user_namespace[64] = {};
  const ssize_t length = ::readlink("/proc/self/ns/user", user_namespace, sizeof(user_namespace) - 1);
  const bool other_user_namespace =
      !plan.host_user_namespace.empty() && length > 0 &&
      plan.host_user_namespace != std::string(user_namespace, static_cast<size_t>(length)) &&
      ::access(plan.pmix_socket.c_str(), F_OK) == 0;
  if (other_user_namespace) {
    log::Debug("in another user namespace than the bridge: PMIx goes through pmix.sock");
  } else if (uri->scheme == "tcp4") {
    absl::Status reach = ProbeTcp4(uri->host, uri->port, absl::Seconds(2));
    if (reach.ok()) {
      log::Debug(absl::StrCat("PMIx server ", uri->host, ":", uri->port, " reachable directly"));
      return Exec(line.command, plan.environment);
    }
    log::Debug(absl::StrCat("PMIx server not reachable directly: ", reach.message()));
  }
  if (::access(plan.pmix_socket.c_str(), F_OK) != 0) {
    return Fail(absl::StrCat("the PMIx server at ", uri->host, ":", uri->port,
                             " is not reachable from this container and ", plan.pmix_socket,
                             " is missing; use the host network, or run the rank under a "
                             "pmi-bridge exec that serves PMIx (no --downstream pmi1|pmi2)"));
  }
  absl::StatusOr<LocalRelay> relay = StartLocalPmixRelay(plan.pmix_socket);
  if (!relay.ok()) return Fail(absl::StrCat("cannot start the local PMIx relay: ", relay.status().message()));
  absl::StatusOr<pmix::RewrittenEnvironment> rewritten =
      pmix::RewritePmixServerUris(plan.environment, "127.0.0.1", relay->port);
  if (!rewritten.ok()) return Fail(rewritten.status().message());
  log::Debug(absl::StrCat("PMIx relay 127.0.0.1:", relay->port, " -> ", plan.pmix_socket,
                          " (pid ", relay->pid, ")"));
  return Exec(line.command, rewritten->environment);
}

}  // namespace

int RunExec(const CommandLine& line) {
  const Environ current = CurrentEnviron();
  const std::string env_dir = LookupEnv(current, rendezvous::kDirVariable).value_or("");
  absl::StatusOr<LocateResult> located = Locate(CandidateDirs(line.dir, env_dir));
  if (!located.ok()) {
    return Fail(absl::StrCat("broken rendezvous: ", located.status().message(),
                             "; the bridge writes this file, so rerun the job"));
  }
  if (!line.dir.empty() && !located->rendezvous.has_value()) {
    return Fail(absl::StrCat("--dir ", line.dir, " holds no env file; point --dir at the "
                             "directory that `pmi-bridge exec` published for this rank"));
  }
  const std::optional<std::string> inherited_fd = LookupEnv(current, "PMI_FD");
  ExecChoices choices;
  if (located->rendezvous.has_value()) {
    Rendezvous& found = *located->rendezvous;
    const image::ClientEvidence program = ProgramEvidence(line.command[0], current);
    // When the program alone does not tell (a script, a static binary, an
    // MPI library loaded at run time) and there is a choice to make: what
    // MPI does the image hold? (A scan reads every MPI library the image has.)
    const bool choice_to_make =
        Offers(found, ClientFamily::kPmi) && Offers(found, ClientFamily::kPmix);
    const image::ClientEvidence image = program.family.has_value() || !choice_to_make
                                           ? image::ClientEvidence{}
                                           : ImageEvidence();
    const FamilyChoice chosen = ChooseFamily(found, program, image);
    if (!chosen.warning.empty()) log::Warning(chosen.warning);
    log::Debug(absl::StrCat("serving the application ", chosen.why));
    choices.family = chosen.family;
    if (NeedsRequest(found, chosen.family)) {
      absl::StatusOr<rendezvous::EnvEntries> added =
          AskBridge(found.dir, chosen.family == ClientFamily::kPmix ? "pmix" : "pmi");
      if (!added.ok()) {
        return Fail(absl::StrCat("the bridge could not serve this rank ",
                                 chosen.family == ClientFamily::kPmix ? "PMIx" : "PMI", ": ",
                                 added.status().message()));
      }
      MergeEntries(found, *added);
    }
    if (inherited_fd.has_value()) {
      uint64_t inode = 0;
      std::optional<uint64_t> expected;
      if (absl::SimpleAtoi(found.Get(rendezvous::kFdInodeKey), &inode)) expected = inode;
      choices.inherited_fd = JudgeInheritedFd(ProbeInheritedFd(*inherited_fd), expected);
    }
  } else if (inherited_fd.has_value()) {
    const FdJudgement judged = JudgeInheritedFd(ProbeInheritedFd(*inherited_fd), std::nullopt);
    if (!judged.usable) {
      const std::string fix =
          env_dir.empty()
              ? "run the rank as `pmi-bridge exec -- ...` and let the container see PMI_SHIM_DIR"
              : absl::StrCat("PMI_SHIM_DIR=", env_dir, " is set but that directory is not in "
                             "this container: bind it at the same path, or let pmi-shim-hook "
                             "mount it at /run/pmi-shim");
      return Fail(absl::StrCat("inherited PMI_FD=", *inherited_fd, " is not a usable socket here (",
                               judged.why, ") and no rank directory was found (",
                               absl::StrJoin(located->searched, ", "), "): ", fix));
    }
  }
  absl::StatusOr<ExecPlan> plan = PlanExec(current, located->rendezvous, choices);
  if (!plan.ok()) return Fail(absl::StrCat("broken rendezvous: ", plan.status().message()));
  if (!plan->notice.empty()) log::Warning(plan->notice);
  switch (plan->mode) {
    case ExecMode::kPmiSocket:
      return ExecThroughPmiSocket(line, *std::move(plan));
    case ExecMode::kPmix:
      return ExecWithPmix(line, *std::move(plan));
    case ExecMode::kDirect:
      log::Debug(absl::StrCat("direct mode: ", plan->description));
      return Exec(line.command, plan->environment);
    case ExecMode::kSingleton: {
      std::vector<Finding> findings = CheckEnvironment(GatherFacts(current, *located));
      const std::string why = findings.empty() ? plan->description : findings.front().message;
      if (line.strict) return Fail(why);
      log::Warning(absl::StrCat("starting ", line.command[0],
                                " as a singleton (rank 0 of 1): ", why));
      return Exec(line.command, plan->environment);
    }
  }
  return kExitSetupFailed;
}

}  // namespace pmi_shim::shim_client
