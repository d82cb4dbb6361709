// runc, Podman and a private Docker daemon for tests; see engines.h.
#include "test/containers/engines.h"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <system_error>
#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "common/status_macros.h"
#include "nlohmann/json.hpp"
#include "test/testing/files.h"
#include "test/testing/processes.h"

extern char** environ;

namespace pmi_shim::containers {
namespace {

namespace fs = std::filesystem;
using testutil::RunResult;
using testutil::RunSubprocess;

absl::Status MkdirP(const std::string& dir) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) return absl::InternalError(absl::StrCat("mkdir -p ", dir, ": ", ec.message()));
  return absl::OkStatus();
}

absl::Status RunOk(const std::vector<std::string>& argv, absl::Duration timeout) {
  ASSIGN_OR_RETURN(RunResult r, RunSubprocess(argv, {}, timeout));
  if (r.exit_code != 0) {
    return absl::InternalError(absl::StrCat(absl::StrJoin(argv, " "), ": ", r.Describe()));
  }
  return absl::OkStatus();
}

// Best effort, for cleanup paths.
void RunQuietly(const std::vector<std::string>& argv, absl::Duration timeout) {
  (void)RunSubprocess(argv, {}, timeout);
}

void KillAndReap(const std::vector<testutil::ProcessInfo>& procs) {
  testutil::KillProcesses(procs);
  for (const testutil::ProcessInfo& p : procs) waitpid(p.pid, nullptr, WNOHANG);
}

}  // namespace

std::string ShellQuote(const std::string& word) {
  std::string out = "'";
  for (char c : word) {
    if (c == '\'') {
      out += "'\\''";
    } else {
      out += c;
    }
  }
  return out + "'";
}

absl::Status EngineAvailability(const std::string& program) {
  if (geteuid() != 0) {
    return absl::FailedPreconditionError(absl::StrCat(program, " needs root in these tests"));
  }
  if (access(program.c_str(), X_OK) != 0) {
    return absl::NotFoundError(absl::StrCat(program, " is not installed (see tools/setup.sh)"));
  }
  return absl::OkStatus();
}

// ---- runc ----

std::vector<std::string> Runc::RunArgv(const std::string& bundle, const std::string& id,
                                       const std::vector<std::string>& extra) const {
  std::vector<std::string> argv = {kRunc, "--root", root_, "run", "--bundle", bundle};
  argv.insert(argv.end(), extra.begin(), extra.end());
  argv.push_back(id);
  return argv;
}

absl::StatusOr<RunResult> Runc::Run(const std::string& bundle, const std::string& id,
                                    absl::Duration timeout) const {
  return RunSubprocess(RunArgv(bundle, id), {}, timeout);
}

std::vector<std::string> Runc::ListArgv() const { return {kRunc, "--root", root_, "list", "-q"}; }

void Runc::Cleanup() const {
  absl::StatusOr<RunResult> list = RunSubprocess(ListArgv(), {}, absl::Seconds(10));
  if (!list.ok()) return;
  for (absl::string_view id : absl::StrSplit(list->stdout_text, '\n', absl::SkipWhitespace())) {
    RunQuietly({kRunc, "--root", root_, "delete", "-f", std::string(id)}, absl::Seconds(10));
  }
}

// ---- Podman ----

Podman::Podman(std::string state_dir, std::string hooks_dir)
    : state_dir_(std::move(state_dir)), hooks_dir_(std::move(hooks_dir)) {
  if (hooks_dir_.empty()) {
    hooks_dir_ = state_dir_ + "/hooks.d";
    (void)MkdirP(hooks_dir_);
  }
}

std::vector<std::string> Podman::Command(const std::vector<std::string>& args) const {
  // Everything private: a stray default storage db poisons later runs
  // (real-peers.md), and /run/libpod is shared with the user's podman.
  std::vector<std::string> argv = {kPodman,
                                   "--root",
                                   state_dir_ + "/root",
                                   "--runroot",
                                   state_dir_ + "/runroot",
                                   "--tmpdir",
                                   state_dir_ + "/tmp",
                                   "--storage-driver",
                                   "vfs",
                                   "--cgroup-manager",
                                   "cgroupfs",
                                   "--events-backend",
                                   "none",
                                   "--runtime",
                                   "runc",
                                   "--hooks-dir",
                                   hooks_dir_};
  argv.insert(argv.end(), args.begin(), args.end());
  return argv;
}

std::vector<std::string> Podman::RunArgv(const std::vector<std::string>& run_flags,
                                         const std::string& image,
                                         const std::vector<std::string>& command) const {
  // Without the two ulimits runc fails here: "error setting rlimit ...
  // operation not permitted" (no CAP_SYS_RESOURCE).
  std::vector<std::string> args = {"run",      "--rm",           "--network",
                                   "none",     "--ulimit",       "nofile=1024:1024",
                                   "--ulimit", "nproc=1024:1024"};
  args.insert(args.end(), run_flags.begin(), run_flags.end());
  args.push_back(image);
  args.insert(args.end(), command.begin(), command.end());
  return Command(args);
}

absl::Status Podman::Import(const std::string& tar, const std::string& name) const {
  return RunOk(Command({"import", "--quiet", tar, name}), absl::Seconds(120));
}

std::vector<std::string> Podman::ListArgv() const { return Command({"ps", "-aq"}); }

void Podman::Cleanup() const {
  RunQuietly(Command({"rm", "-af", "-t", "0"}), absl::Seconds(60));
  RunQuietly(Command({"rmi", "-af"}), absl::Seconds(60));
  KillAndReap(testutil::ProcessesWithCmdline(state_dir_));
  UnmountAllUnder(state_dir_);
}

// ---- Docker ----

absl::StatusOr<std::unique_ptr<DockerDaemon>> DockerDaemon::Start(const DockerOptions& options) {
  const std::string& dir = options.state_dir;
  RETURN_IF_ERROR(MkdirP(dir));
  nlohmann::json config = {
      {"iptables", false},
      {"ip6tables", false},
      {"bridge", "none"},
      {"storage-driver", "vfs"},
      {"data-root", dir + "/data"},
      {"exec-root", dir + "/exec"},
      {"pidfile", dir + "/docker.pid"},
      {"hosts", {"unix://" + dir + "/docker.sock"}},
  };
  for (const auto& [name, path] : options.runtimes) config["runtimes"][name] = {{"path", path}};
  for (const auto& [name, entry] : options.runtimes_json.items()) config["runtimes"][name] = entry;
  {
    std::ofstream out(dir + "/daemon.json", std::ios::trunc);
    out << config.dump(2) << "\n";
    if (!out) return absl::InternalError(absl::StrCat("cannot write ", dir, "/daemon.json"));
  }

  std::string log = dir + "/dockerd.log";
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&actions, 1, log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  posix_spawn_file_actions_adddup2(&actions, 1, 2);
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  // Own session: a test's process-group kill must not reach the daemon
  // half-way through a container stop; Stop() ends it deliberately.
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSID);
  std::string config_path = dir + "/daemon.json";
  const char* argv[] = {kDockerd, "--config-file", config_path.c_str(), nullptr};
  pid_t pid = 0;
  auto start = std::chrono::steady_clock::now();
  int err = posix_spawn(&pid, kDockerd, &actions, &attr, const_cast<char**>(argv), environ);
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attr);
  if (err != 0) return absl::ErrnoToStatus(err, absl::StrCat("spawn ", kDockerd));

  std::unique_ptr<DockerDaemon> daemon(new DockerDaemon(dir, pid));
  absl::Time deadline = absl::Now() + options.ready_timeout;
  while (true) {
    absl::StatusOr<RunResult> v = RunSubprocess(daemon->Command({"version"}), {}, absl::Seconds(5));
    if (v.ok() && v->exit_code == 0) break;
    int status;
    if (waitpid(pid, &status, WNOHANG) == pid) {
      daemon->pid_ = 0;
      std::string why = absl::StrCat("dockerd exited before it was ready: ", daemon->Log());
      daemon->Stop();
      return absl::InternalError(why);
    }
    if (absl::Now() > deadline) {
      std::string why =
          absl::StrCat("dockerd not ready after ", absl::FormatDuration(options.ready_timeout),
                       ": ", daemon->Log());
      daemon->Stop();
      return absl::DeadlineExceededError(why);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  daemon->ready_time_ = absl::FromChrono(std::chrono::steady_clock::now() - start);
  return daemon;
}

std::vector<std::string> DockerDaemon::Command(const std::vector<std::string>& args) const {
  std::vector<std::string> argv = {kDocker, "-H", "unix://" + Socket()};
  argv.insert(argv.end(), args.begin(), args.end());
  return argv;
}

std::vector<std::string> DockerDaemon::RunArgv(const std::vector<std::string>& run_flags,
                                               const std::string& image,
                                               const std::vector<std::string>& command) const {
  std::vector<std::string> args = {"run", "--rm", "--network", "none"};
  args.insert(args.end(), run_flags.begin(), run_flags.end());
  args.push_back(image);
  args.insert(args.end(), command.begin(), command.end());
  return Command(args);
}

absl::Status DockerDaemon::Import(const std::string& tar, const std::string& name) const {
  return RunOk(Command({"import", tar, name}), absl::Seconds(120));
}

std::vector<std::string> DockerDaemon::ListArgv() const { return Command({"ps", "-aq"}); }

std::string DockerDaemon::Log() const {
  std::string text = testutil::ReadFile(state_dir_ + "/dockerd.log");
  if (text.size() > 2000) text = "..." + text.substr(text.size() - 2000);
  return text;
}

std::string DockerDaemon::Stop() {
  if (state_dir_.empty()) return "";
  std::vector<std::string> problems;
  auto start = std::chrono::steady_clock::now();
  if (pid_ > 0) {
    absl::StatusOr<RunResult> ids = RunSubprocess(ListArgv(), {}, absl::Seconds(20));
    if (ids.ok() && ids->exit_code == 0) {
      for (absl::string_view id : absl::StrSplit(ids->stdout_text, '\n', absl::SkipWhitespace())) {
        RunQuietly(Command({"rm", "-f", std::string(id)}), absl::Seconds(30));
      }
    }
    RunQuietly(Command({"image", "prune", "-af"}), absl::Seconds(30));
    kill(pid_, SIGTERM);
    int status = 0;
    bool gone = false;
    for (int i = 0; i < 1000 && !gone; ++i) {  // 10 s
      gone = waitpid(pid_, &status, WNOHANG) == pid_;
      if (!gone) std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    if (!gone) {
      problems.push_back("dockerd ignored SIGTERM for 10 s");
      kill(pid_, SIGKILL);
      waitpid(pid_, &status, 0);
    }
    pid_ = 0;
  }
  // containerd exits with dockerd; shims of containers that were not removed
  // would not, and they all name the state dir on their command line.
  std::vector<testutil::ProcessInfo> stray = testutil::ProcessesWithCmdline(state_dir_);
  if (!stray.empty()) {
    problems.push_back(absl::StrCat(stray.size(), " processes outlived dockerd"));
    KillAndReap(stray);
  }
  std::vector<std::string> stuck = UnmountAllUnder(state_dir_);
  if (!stuck.empty())
    problems.push_back(absl::StrCat("still mounted: ", absl::StrJoin(stuck, " ")));
  stop_time_ = absl::FromChrono(std::chrono::steady_clock::now() - start);
  state_dir_.clear();
  return absl::StrJoin(problems, "; ");
}

absl::Status WriteRuntimeWrapper(const std::string& path,
                                 const std::vector<std::string>& hook_argv) {
  std::string words;
  for (const std::string& w : hook_argv) absl::StrAppend(&words, ShellQuote(w), " ");
  std::string script = absl::StrCat(
      "#!/bin/sh\n"
      "# Docker runtime for tests: containerd-shim calls this with runc's arguments.\n"
      "exec ",
      words, "runtime --runtime ", kRunc, " -- \"$@\"\n");
  {
    std::ofstream out(path, std::ios::trunc);
    out << script;
    if (!out) return absl::InternalError(absl::StrCat("cannot write ", path));
  }
  if (chmod(path.c_str(), 0755) != 0)
    return absl::ErrnoToStatus(errno, absl::StrCat("chmod ", path));
  return absl::OkStatus();
}

}  // namespace pmi_shim::containers
