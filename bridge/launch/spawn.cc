#include "bridge/launch/spawn.h"

#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace pmi_shim::launch {
namespace {

std::vector<char*> CStrings(const std::vector<std::string>& strings) {
  std::vector<char*> pointers;
  pointers.reserve(strings.size() + 1);
  for (const std::string& s : strings) pointers.push_back(const_cast<char*>(s.c_str()));
  pointers.push_back(nullptr);
  return pointers;
}

// What the child needs; it shares the parent's memory until it execs.
struct ChildPlan {
  const SpawnRequest* request;
  const char* file;
  char* const* argv;
  char* const* envp;
  pid_t parent;
  int exec_errno = 0;  // written by the child if execve fails
};

// Runs in the child, in the parent's memory (CLONE_VM) while the parent
// waits (CLONE_VFORK): system calls only, no allocation, no locks.
int ChildMain(void* arg) {
  ChildPlan& plan = *static_cast<ChildPlan*>(arg);
  const SpawnRequest& request = *plan.request;
  // setsid also makes the child the leader of a new process group.
  if (request.own_process_group && ::setsid() < 0) ::setpgid(0, 0);
  if (request.parent_death_signal != 0) {
    ::prctl(PR_SET_PDEATHSIG, request.parent_death_signal);
    if (::getppid() != plan.parent) ::_exit(127);  // the parent died before prctl
  }
  for (int sig : {SIGPIPE, SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGCHLD}) ::signal(sig, SIG_DFL);
  sigset_t none;
  sigemptyset(&none);
  ::sigprocmask(SIG_SETMASK, &none, nullptr);
  if (request.inherit_fd >= 0) {
    const int flags = ::fcntl(request.inherit_fd, F_GETFD);
    ::fcntl(request.inherit_fd, F_SETFD, flags & ~FD_CLOEXEC);
  }
  ::execve(plan.file, plan.argv, plan.envp);
  plan.exec_errno = errno;
  ::_exit(127);
}

}  // namespace

absl::StatusOr<std::string> ResolveExecutable(const std::string& name,
                                              const std::vector<std::string>& env) {
  if (absl::StrContains(name, '/')) return name;
  std::string path = "/usr/local/bin:/usr/bin:/bin";
  for (const std::string& entry : env) {
    if (absl::StartsWith(entry, "PATH=")) path = entry.substr(5);
  }
  for (absl::string_view dir : absl::StrSplit(path, ':')) {
    const std::string candidate = absl::StrCat(dir.empty() ? "." : dir, "/", name);
    struct stat info;
    if (::stat(candidate.c_str(), &info) == 0 && S_ISREG(info.st_mode) &&
        ::access(candidate.c_str(), X_OK) == 0) {
      return candidate;
    }
  }
  return absl::NotFoundError(absl::StrCat("cannot run ", name, ": not found in PATH"));
}

absl::StatusOr<pid_t> Spawn(const SpawnRequest& request) {
  if (request.argv.empty()) return absl::InvalidArgumentError("no command to run");
  absl::StatusOr<std::string> file = ResolveExecutable(request.argv[0], request.env);
  if (!file.ok()) return file.status();
  std::vector<char*> argv = CStrings(request.argv);
  std::vector<char*> envp = CStrings(request.env);
  ChildPlan plan{&request, file->c_str(), argv.data(), envp.data(), ::getpid()};
  // A vfork-style clone, as posix_spawn does: no copy of this process's page
  // tables, and the child runs (and execs) at once while we wait, so N ranks
  // start in a quick row even when the CPUs are busy with the first ones.
  static constexpr size_t kStackBytes = 64 * 1024;
  std::vector<char> stack(kStackBytes);
  const pid_t pid =
      ::clone(ChildMain, stack.data() + stack.size(), CLONE_VM | CLONE_VFORK | SIGCHLD, &plan);
  if (pid < 0) return absl::ErrnoToStatus(errno, "clone");
  // Also set the group from the parent (fails harmlessly when the child
  // made its session, or exec'd, already).
  if (request.own_process_group) ::setpgid(pid, pid);
  if (plan.exec_errno != 0) {
    ::waitpid(pid, nullptr, 0);
    return absl::ErrnoToStatus(plan.exec_errno, absl::StrCat("cannot run ", request.argv[0]));
  }
  return pid;
}

}  // namespace pmi_shim::launch
