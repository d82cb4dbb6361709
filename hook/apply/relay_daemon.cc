#include "hook/apply/relay_daemon.h"

#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "common/event_loop.h"
#include "common/log.h"
#include "common/net/relay_server.h"
#include "common/status_macros.h"
#include "common/unique_fd.h"
#include "hook/apply/netns_listener.h"
#include "hook/apply/seccomp_policy.h"

extern char** environ;

namespace pmi_shim::hook {
namespace {

constexpr int kReadyFd = 3;

int PidfdOpen(pid_t pid) { return static_cast<int>(::syscall(SYS_pidfd_open, pid, 0)); }

void WriteLine(int fd, const std::string& line) {
  const std::string text = line + "\n";
  (void)!::write(fd, text.data(), text.size());
}

// ---- the daemon side ----

struct RelayArgs {
  std::string netns, address;
  int port = 0, ready_fd = -1;
  uid_t uid = 0;
  gid_t gid = 0;
  pid_t pid = 0;
};

absl::StatusOr<RelayArgs> ParseRelayArgs(const std::vector<std::string>& args) {
  RelayArgs parsed;
  bool have_port = false, have_pid = false;
  for (size_t i = 0; i < args.size(); i += 2) {
    if (i + 1 >= args.size())
      return absl::InvalidArgumentError(absl::StrCat(args[i], " needs a value"));
    const std::string& flag = args[i];
    const std::string& value = args[i + 1];
    int number = 0;
    const bool numeric = absl::SimpleAtoi(value, &number) && number >= 0;
    if (flag == "--netns")
      parsed.netns = value;
    else if (flag == "--address")
      parsed.address = value;
    else if (flag == "--port" && numeric && number > 0 && number < 65536)
      parsed.port = number, have_port = true;
    else if (flag == "--uid" && numeric)
      parsed.uid = static_cast<uid_t>(number);
    else if (flag == "--gid" && numeric)
      parsed.gid = static_cast<gid_t>(number);
    else if (flag == "--pid" && numeric && number > 0)
      parsed.pid = number, have_pid = true;
    else if (flag == "--ready-fd" && numeric)
      parsed.ready_fd = number;
    else
      return absl::InvalidArgumentError(absl::StrCat("relay: bad option ", flag, " ", value));
  }
  if (parsed.netns.empty() || parsed.address.empty() || !have_port || !have_pid) {
    return absl::InvalidArgumentError("relay needs --netns, --address, --port and --pid");
  }
  return parsed;
}

absl::Status DropPrivileges(uid_t uid, gid_t gid) {
  if (::getuid() == uid && ::geteuid() == uid && ::getgid() == gid) return absl::OkStatus();
  if (::setgroups(0, nullptr) != 0) return absl::ErrnoToStatus(errno, "setgroups(0)");
  if (::setresgid(gid, gid, gid) != 0)
    return absl::ErrnoToStatus(errno, absl::StrCat("setgid ", gid));
  if (::setresuid(uid, uid, uid) != 0)
    return absl::ErrnoToStatus(errno, absl::StrCat("setuid ", uid));
  return absl::OkStatus();
}

// Everything up to "ready": on error nothing is relayed and the reason goes
// to the hook.
struct Daemon {
  EventLoop loop;
  UniqueFd pidfd, signals;
  std::unique_ptr<net::RelayServer> relay;
};

absl::Status Prepare(const RelayArgs& args, Daemon& daemon) {
  daemon.pidfd.Reset(PidfdOpen(args.pid));
  if (!daemon.pidfd.valid()) {
    return absl::ErrnoToStatus(errno,
                               absl::StrCat("the container's init (pid ", args.pid, ") is gone"));
  }
  ASSIGN_OR_RETURN(UniqueFd listener, ListenInNetns(args.netns, args.address, args.port));
  sigset_t mask;
  sigemptyset(&mask);
  sigaddset(&mask, SIGTERM);
  sigaddset(&mask, SIGINT);
  sigaddset(&mask, SIGHUP);
  sigaddset(&mask, SIGPIPE);
  ::sigprocmask(SIG_BLOCK, &mask, nullptr);
  daemon.signals.Reset(::signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK));
  if (!daemon.signals.valid()) return absl::ErrnoToStatus(errno, "signalfd");
  if (!daemon.loop.ok()) return absl::InternalError("cannot create the relay's epoll instance");
  // Inside the container's netns anyone may connect: it is the
  // container's own loopback, and the server checks its clients itself.
  net::RelayServer::Options options;
  options.connector = net::TcpConnector(args.address, args.port);
  options.description = absl::StrCat(args.address, ":", args.port, " in ", args.netns);
  ASSIGN_OR_RETURN(daemon.relay,
                   net::RelayServer::Start(daemon.loop, std::move(listener), std::move(options)));
  EventLoop& loop = daemon.loop;
  RETURN_IF_ERROR(loop.Watch(daemon.pidfd.get(), EPOLLIN, [&loop](uint32_t) { loop.Stop(); }));
  RETURN_IF_ERROR(loop.Watch(daemon.signals.get(), EPOLLIN, [&loop](uint32_t) { loop.Stop(); }));
  RETURN_IF_ERROR(DropPrivileges(args.uid, args.gid));
  return InstallRelaySeccompPolicy();
}

// ---- the hook side ----

// Reads one line from `fd` before `deadline`; "" on EOF or timeout.
std::string ReadLine(int fd, absl::Time deadline) {
  std::string line;
  while (line.find('\n') == std::string::npos) {
    const int ms = static_cast<int>(absl::ToInt64Milliseconds(deadline - absl::Now()));
    if (ms <= 0) return "";
    pollfd pfd{fd, POLLIN, 0};
    const int ready = ::poll(&pfd, 1, ms);
    if (ready < 0 && errno == EINTR) continue;
    if (ready <= 0) return "";
    char chunk[512];
    const ssize_t n = ::read(fd, chunk, sizeof(chunk));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    line.append(chunk, static_cast<size_t>(n));
  }
  return line.substr(0, line.find('\n'));
}

// In the grandchild: stdio on /dev/null, the ready pipe on fd 3, nothing else.
[[noreturn]] void ExecDaemon(const RelayLaunch& launch, int ready_write) {
  const int keep = ::fcntl(ready_write, F_DUPFD_CLOEXEC, 10);
  const int null = ::open("/dev/null", O_RDWR | O_CLOEXEC);
  if (keep < 0 || null < 0) ::_exit(127);
  for (int fd = 0; fd < 3; ++fd) ::dup2(null, fd);
  ::dup2(keep, kReadyFd);
  ::syscall(SYS_close_range, kReadyFd + 1, ~0U, 0);
  std::vector<std::string> words = {launch.self_path, "relay",
                                    "--netns",        launch.netns_path,
                                    "--address",      launch.address,
                                    "--port",         absl::StrCat(launch.port),
                                    "--uid",          absl::StrCat(launch.uid),
                                    "--gid",          absl::StrCat(launch.gid),
                                    "--pid",          absl::StrCat(launch.container_pid),
                                    "--ready-fd",     absl::StrCat(kReadyFd)};
  std::vector<char*> argv;
  for (std::string& word : words) argv.push_back(word.data());
  argv.push_back(nullptr);
  ::execve(launch.self_path.c_str(), argv.data(), environ);
  WriteLine(kReadyFd,
            absl::StrCat("error cannot run ", launch.self_path, ": ", std::strerror(errno)));
  ::_exit(127);
}

}  // namespace

absl::StatusOr<uint64_t> ParseStatStartTime(const std::string& stat) {
  // The command name (field 2) may hold spaces and ')': fields count from the last ')'.
  const size_t paren = stat.rfind(')');
  if (paren == std::string::npos) return absl::InvalidArgumentError("no ')' in /proc/PID/stat");
  const std::vector<absl::string_view> fields =
      absl::StrSplit(absl::string_view(stat).substr(paren + 1), ' ', absl::SkipEmpty());
  constexpr size_t kStartTimeIndex = 22 - 3;  // fields[0] is field 3 (state)
  uint64_t start = 0;
  if (fields.size() <= kStartTimeIndex || !absl::SimpleAtoi(fields[kStartTimeIndex], &start)) {
    return absl::InvalidArgumentError("no start time in /proc/PID/stat");
  }
  return start;
}

absl::StatusOr<uint64_t> ProcessStartTime(pid_t pid) {
  std::ifstream in(absl::StrCat("/proc/", pid, "/stat"));
  if (!in) return absl::NotFoundError(absl::StrCat("no process ", pid));
  std::stringstream text;
  text << in.rdbuf();
  return ParseStatStartTime(text.str());
}

absl::StatusOr<RelayProcess> StartRelayDaemon(const RelayLaunch& launch, absl::Duration timeout) {
  if (launch.self_path.empty()) {
    return absl::FailedPreconditionError("no path to pmi-shim-hook itself to start a relay with");
  }
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) return absl::ErrnoToStatus(errno, "pipe");
  UniqueFd read_end(fds[0]), write_end(fds[1]);
  const pid_t middle = ::fork();
  if (middle < 0) return absl::ErrnoToStatus(errno, "fork");
  if (middle == 0) {
    // The middle process exits at once, so the daemon is nobody's child here
    // and is never left a zombie of the hook.
    ::setsid();
    const pid_t daemon = ::fork();
    if (daemon == 0) ExecDaemon(launch, write_end.get());
    ::_exit(daemon < 0 ? 1 : 0);
  }
  write_end.Reset();
  int wstatus = 0;
  while (::waitpid(middle, &wstatus, 0) < 0 && errno == EINTR) {
  }
  const std::string line = ReadLine(read_end.get(), absl::Now() + timeout);
  absl::string_view rest = line;
  int pid = 0;
  if (absl::ConsumePrefix(&rest, "ready ") && absl::SimpleAtoi(rest, &pid) && pid > 0) {
    RelayProcess process;
    process.pid = pid;
    ASSIGN_OR_RETURN(process.start_time, ProcessStartTime(pid));
    return process;
  }
  const std::string where = absl::StrCat("relay for ", launch.address, ":", launch.port);
  if (absl::ConsumePrefix(&rest, "error ")) {
    return absl::FailedPreconditionError(absl::StrCat(where, ": ", rest));
  }
  return absl::DeadlineExceededError(
      absl::StrCat(where, " did not report ready within ", absl::FormatDuration(timeout)));
}

absl::Status StopRelayDaemon(pid_t pid, uint64_t start_time) {
  if (pid <= 0) return absl::OkStatus();
  UniqueFd pidfd(PidfdOpen(pid));
  if (!pidfd.valid()) {
    if (errno == ESRCH) return absl::OkStatus();
    return absl::ErrnoToStatus(errno, absl::StrCat("pidfd_open ", pid));
  }
  // Checked after the pidfd pins the process: a later recycling cannot fool it.
  absl::StatusOr<uint64_t> now = ProcessStartTime(pid);
  if (!now.ok() || *now != start_time) return absl::OkStatus();
  for (int signal : {SIGTERM, SIGKILL}) {
    if (::syscall(SYS_pidfd_send_signal, pidfd.get(), signal, nullptr, 0) != 0) {
      if (errno == ESRCH) return absl::OkStatus();
      return absl::ErrnoToStatus(errno, absl::StrCat("cannot signal relay pid ", pid));
    }
    pollfd pfd{pidfd.get(), POLLIN, 0};
    if (::poll(&pfd, 1, 2000) > 0) return absl::OkStatus();
  }
  return absl::DeadlineExceededError(absl::StrCat("relay pid ", pid, " survived SIGKILL"));
}

int RunRelayVerbImpl(const std::vector<std::string>& args) {
  absl::StatusOr<RelayArgs> parsed = ParseRelayArgs(args);
  if (!parsed.ok()) {
    log::Error(parsed.status().message());
    return 2;
  }
  const int ready = parsed->ready_fd;
  Daemon daemon;
  if (absl::Status prepared = Prepare(*parsed, daemon); !prepared.ok()) {
    if (ready >= 0) WriteLine(ready, absl::StrCat("error ", prepared.message()));
    log::Error(absl::StrCat("relay: ", prepared.message()));
    return 1;
  }
  if (ready >= 0) {
    WriteLine(ready, absl::StrCat("ready ", ::getpid()));
    ::close(ready);
  }
  if (absl::Status ran = daemon.loop.Run(); !ran.ok()) {
    log::Error(absl::StrCat("relay: ", ran.message()));
    return 1;
  }
  return 0;
}

}  // namespace pmi_shim::hook
