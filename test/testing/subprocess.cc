// Subprocess runner for end-to-end tests; see subprocess.h for the contract.
#include "test/testing/subprocess.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <map>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "common/unique_fd.h"

extern char** environ;

namespace pmi_shim::testutil {
namespace {

using Clock = std::chrono::steady_clock;

// How long output is still collected after the child exited. Descendants the
// child left behind may hold the pipes open forever; the test must not wait
// for them (it is the test's job to notice them).
constexpr auto kDrainGrace = std::chrono::milliseconds(300);
// Poll granularity when no pidfd is available to wake us at the exit.
constexpr auto kFallbackTick = std::chrono::milliseconds(5);

absl::Status ErrnoStatus(absl::string_view what) {
  int err = errno;
  return absl::ErrnoToStatus(err, what);
}

std::vector<std::string> BuildEnv(const RunOptions& options) {
  std::map<std::string, std::string> env;
  for (char** e = environ; *e != nullptr; ++e) {
    absl::string_view entry(*e);
    size_t eq = entry.find('=');
    if (eq == absl::string_view::npos) continue;
    env[std::string(entry.substr(0, eq))] = std::string(entry.substr(eq + 1));
  }
  for (const auto& [key, value] : options.env) env[key] = value;
  for (const auto& key : options.unset_env) env.erase(key);
  std::vector<std::string> out;
  out.reserve(env.size());
  for (const auto& [key, value] : env) out.push_back(absl::StrCat(key, "=", value));
  return out;
}

std::vector<char*> CStrings(std::vector<std::string>& strings) {
  std::vector<char*> out;
  for (auto& s : strings) out.push_back(s.data());
  out.push_back(nullptr);
  return out;
}

// Runs in the forked child: only async-signal-safe calls until execvpe.
[[noreturn]] void ExecChild(int out_fd, int err_fd, int report_fd, char* const* argv,
                            char* const* envp) {
  // Own process group, so that a timeout can kill everything it started.
  setpgid(0, 0);
  int null_fd = open("/dev/null", O_RDONLY);
  if (null_fd >= 0) dup2(null_fd, STDIN_FILENO);
  dup2(out_fd, STDOUT_FILENO);
  dup2(err_fd, STDERR_FILENO);
  // Ignored signals and the blocked mask survive exec; a launcher under test
  // must see SIGINT/SIGPIPE/SIGTERM the way it would from a shell.
  for (int sig : {SIGINT, SIGTERM, SIGPIPE, SIGHUP, SIGQUIT, SIGCHLD}) {
    signal(sig, SIG_DFL);
  }
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, nullptr);
  execvpe(argv[0], argv, envp);
  int err = errno;
  (void)!write(report_fd, &err, sizeof(err));
  _exit(127);
}

// Appends what is readable on `fd` to `sink`; closes it at EOF.
void Drain(UniqueFd& fd, std::string& sink) {
  char buf[65536];
  for (;;) {
    ssize_t n = read(fd.get(), buf, sizeof(buf));
    if (n > 0) {
      sink.append(buf, static_cast<size_t>(n));
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno == EAGAIN) return;
    fd.Reset();  // EOF or a real error: nothing more will come
    return;
  }
}

}  // namespace

std::string RunResult::StatusText() const {
  if (timed_out) return "timed out (process group killed)";
  if (term_signal != 0) {
    return absl::StrCat("killed by signal ", term_signal, " (", strsignal(term_signal), ")");
  }
  return absl::StrCat("exit ", exit_code);
}

std::string RunResult::Describe() const {
  return absl::StrCat(StatusText(), " after ", absl::FormatDuration(wall), "\n--- stdout ---\n",
                      stdout_text, "--- stderr ---\n", stderr_text, "--------------");
}

absl::StatusOr<RunResult> RunSubprocess(const RunOptions& options) {
  if (options.argv.empty()) return absl::InvalidArgumentError("empty argv");
  // Everything the child needs is built before fork().
  std::vector<std::string> argv_storage = options.argv;
  std::vector<std::string> env_storage = BuildEnv(options);
  std::vector<char*> argv = CStrings(argv_storage);
  std::vector<char*> envp = CStrings(env_storage);

  int out_pipe[2], err_pipe[2], report_pipe[2];
  if (pipe2(out_pipe, O_CLOEXEC) != 0) return ErrnoStatus("pipe2");
  UniqueFd out_read(out_pipe[0]), out_write(out_pipe[1]);
  if (pipe2(err_pipe, O_CLOEXEC) != 0) return ErrnoStatus("pipe2");
  UniqueFd err_read(err_pipe[0]), err_write(err_pipe[1]);
  // Carries execvpe's errno back; closed by a successful exec (O_CLOEXEC).
  if (pipe2(report_pipe, O_CLOEXEC) != 0) return ErrnoStatus("pipe2");
  UniqueFd report_read(report_pipe[0]), report_write(report_pipe[1]);

  const Clock::time_point start = Clock::now();
  pid_t pid = fork();
  if (pid < 0) return ErrnoStatus("fork");
  if (pid == 0) {
    ExecChild(out_write.get(), err_write.get(), report_write.get(), argv.data(), envp.data());
  }
  // Also from the parent: a kill of the group must work even if it comes
  // before the child got to run setpgid itself.
  setpgid(pid, pid);
  out_write.Reset();
  err_write.Reset();
  report_write.Reset();

  int exec_errno = 0;
  ssize_t n;
  do {
    n = read(report_read.get(), &exec_errno, sizeof(exec_errno));
  } while (n < 0 && errno == EINTR);
  if (n == sizeof(exec_errno)) {
    waitpid(pid, nullptr, 0);
    return absl::ErrnoToStatus(exec_errno, absl::StrCat("cannot execute ", options.argv[0]));
  }

  fcntl(out_read.get(), F_SETFL, O_NONBLOCK);
  fcntl(err_read.get(), F_SETFL, O_NONBLOCK);
  // A pidfd becomes readable the moment the child exits, so the measured
  // wall time is exact without busy polling; old kernels fall back to ticks.
  UniqueFd pidfd(static_cast<int>(syscall(SYS_pidfd_open, pid, 0)));

  RunResult result;
  const Clock::time_point deadline = start + absl::ToChronoNanoseconds(options.timeout);
  std::optional<Clock::time_point> signal_at;
  if (options.signal_after) {
    signal_at = start + absl::ToChronoNanoseconds(*options.signal_after);
  }
  bool signal_sent = false;
  std::optional<Clock::time_point> exited_at;
  int wait_status = 0;

  for (;;) {
    Clock::time_point now = Clock::now();
    if (!exited_at && waitpid(pid, &wait_status, WNOHANG) == pid) {
      exited_at = now;
    }
    if (exited_at && !out_read.valid() && !err_read.valid()) break;
    if (exited_at && now - *exited_at >= kDrainGrace) break;
    if (!exited_at && now >= deadline) {
      kill(-pid, SIGKILL);
      kill(pid, SIGKILL);
      waitpid(pid, &wait_status, 0);
      result.timed_out = true;
      exited_at = Clock::now();
      continue;
    }
    if (!exited_at && signal_at && !signal_sent && now >= *signal_at) {
      kill(pid, options.signal);
      signal_sent = true;
    }

    // Sleep until output, the exit, the next event time or the next tick.
    Clock::time_point wake = exited_at ? *exited_at + kDrainGrace : deadline;
    if (signal_at && !signal_sent) wake = std::min(wake, *signal_at);
    if (!pidfd.valid() && !exited_at) wake = std::min(wake, now + kFallbackTick);
    pollfd fds[3];
    nfds_t nfds = 0;
    if (out_read.valid()) fds[nfds++] = {out_read.get(), POLLIN, 0};
    if (err_read.valid()) fds[nfds++] = {err_read.get(), POLLIN, 0};
    if (pidfd.valid() && !exited_at) fds[nfds++] = {pidfd.get(), POLLIN, 0};
    auto wait_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                       wake - now + std::chrono::microseconds(999))
                       .count();
    poll(fds, nfds, static_cast<int>(std::max<int64_t>(0, wait_ms)));
    if (out_read.valid()) Drain(out_read, result.stdout_text);
    if (err_read.valid()) Drain(err_read, result.stderr_text);
  }

  result.wall = absl::FromChrono(*exited_at - start);
  if (signal_sent) {
    result.after_signal = absl::FromChrono(*exited_at - *signal_at);
  }
  if (WIFEXITED(wait_status)) result.exit_code = WEXITSTATUS(wait_status);
  if (WIFSIGNALED(wait_status)) result.term_signal = WTERMSIG(wait_status);
  return result;
}

absl::StatusOr<RunResult> RunSubprocess(std::vector<std::string> argv,
                                        std::vector<std::pair<std::string, std::string>> env,
                                        absl::Duration timeout) {
  RunOptions options;
  options.argv = std::move(argv);
  options.env = std::move(env);
  options.timeout = timeout;
  return RunSubprocess(options);
}

}  // namespace pmi_shim::testutil
