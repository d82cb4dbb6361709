// pmix_job_driver: runs a job of PMIx clients under PmixServer (testonly).
//
//   pmix_job_driver --np N [--servers K] [--netns] [--env NAME=VALUE]...
//                   [--timeout SECONDS] -- COMMAND [ARGS...]
//
// With K = 1 (the `pmi-bridge launch` shape) one PmixServer over an
// EmbeddedHost serves all N ranks. With K > 1 (the `pmi-bridge exec` shape)
// this process holds the EmbeddedHost and forks K server processes, each
// with its own PmixServer for a contiguous block of ranks and a JobHost that
// forwards every operation to the EmbeddedHost over a socketpair, so fence
// data really travels through a host KVS and barrier, as under hydra or
// Slurm. Each rank's environment is this process's minus PMI_*/PMIX_*, plus
// PmixServer::ClientEnvironment(rank), plus the --env entries (which win).
// --netns first moves the driver into a private network namespace with only
// loopback up (exit 77 when that is not permitted).
//
// Prints, besides the ranks' own output:
//   driver: server S ranks A-B fence_upcalls=F direct_modex_upcalls=D
//   driver: abort rank R code C: MESSAGE     driver: lost rank R: REASON
//   driver: rank R exit X
// Exit status: 0 when every rank exited 0 and nobody aborted or got lost,
// 2 otherwise, 1 when the job could not start.
#include <fcntl.h>
#include <net/if.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "bridge/downstream/pmix_server.h"
#include "bridge/session/job_host.h"
#include "bridge/upstream/embedded_host.h"
#include "common/event_loop.h"
#include "common/log.h"

extern char** environ;

namespace pmi_shim::downstream {
namespace {

struct Config {
  int np = 1;
  int servers = 1;
  bool netns = false;
  int timeout_seconds = 120;
  std::vector<std::string> env;
  std::vector<std::string> command;
};

void Say(const std::string& line) {
  std::string text = absl::StrCat("driver: ", line, "\n");
  (void)!::write(STDOUT_FILENO, text.data(), text.size());
}

bool EnterNetns(std::string* why) {
  if (::unshare(CLONE_NEWNET) != 0) {
    *why = absl::StrCat("unshare(CLONE_NEWNET): ", std::strerror(errno));
    return false;
  }
  const int sock = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  ifreq req{};
  std::strncpy(req.ifr_name, "lo", IFNAMSIZ - 1);
  const bool up = sock >= 0 && ::ioctl(sock, SIOCGIFFLAGS, &req) == 0 &&
                  (req.ifr_flags |= IFF_UP | IFF_RUNNING, ::ioctl(sock, SIOCSIFFLAGS, &req) == 0);
  if (!up) *why = absl::StrCat("bringing lo up: ", std::strerror(errno));
  if (sock >= 0) ::close(sock);
  return up;
}

session::JobInfo MakeJobInfo(int np) {
  session::JobInfo info;
  info.kvsname = absl::StrCat("pmix-driver-", ::getpid());
  info.size = np;
  info.universe_size = np;
  return info;
}

// Line-oriented I/O on a socket watched by the loop.
class LineChannel {
 public:
  LineChannel(EventLoop& loop, int fd, std::function<void(std::string)> on_line,
              std::function<void()> on_eof)
      : loop_(loop), fd_(fd), on_line_(std::move(on_line)), on_eof_(std::move(on_eof)) {
    ::fcntl(fd_, F_SETFL, ::fcntl(fd_, F_GETFL) | O_NONBLOCK);
    (void)loop_.Watch(fd_, EPOLLIN, [this](uint32_t) { Read(); });
  }
  ~LineChannel() {
    loop_.Unwatch(fd_);
    ::close(fd_);
  }
  void Send(const std::string& line) {
    std::string data = line + "\n";
    size_t sent = 0;
    while (sent < data.size()) {
      const ssize_t n = ::send(fd_, data.data() + sent, data.size() - sent, MSG_NOSIGNAL);
      if (n > 0) {
        sent += n;
      } else if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
        pollfd pfd{fd_, POLLOUT, 0};
        (void)::poll(&pfd, 1, 1000);
      } else {
        return;
      }
    }
  }

 private:
  void Read() {
    char buffer[65536];
    for (;;) {
      const ssize_t n = ::recv(fd_, buffer, sizeof(buffer), 0);
      if (n > 0) {
        input_.append(buffer, n);
        size_t end;
        while ((end = input_.find('\n')) != std::string::npos) {
          std::string line = input_.substr(0, end);
          input_.erase(0, end + 1);
          on_line_(std::move(line));
        }
        continue;
      }
      if (n < 0 && (errno == EAGAIN || errno == EINTR)) return;
      loop_.Unwatch(fd_);
      on_eof_();
      return;
    }
  }

  EventLoop& loop_;
  int fd_;
  std::function<void(std::string)> on_line_;
  std::function<void()> on_eof_;
  std::string input_;
};

// A JobHost in a server process whose job lives in the driver's process.
// Requests: "ID put RANK KEY VALUE", "ID get RANK KEY", "ID barrier RANK",
// "0 claim|finalized RANK", "0 abort RANK CODE MESSAGE", "0 lost RANK REASON".
// Replies: "ID ok [VALUE]", "ID err CODE MESSAGE"; "0 end" ends the job.
class ProxyHost : public session::JobHost {
 public:
  ProxyHost(EventLoop& loop, int fd, session::JobInfo info, std::function<void()> on_end)
      : info_(std::move(info)),
        claimed_(info_.size, false),
        channel_(
            loop, fd, [this](std::string line) { OnLine(line); }, on_end),
        on_end_(std::move(on_end)) {}

  const session::JobInfo& info() const override { return info_; }
  absl::Status ClaimRank(int rank) override {
    if (rank < 0 || rank >= info_.size) return absl::OutOfRangeError("rank outside the job");
    if (claimed_[rank]) return absl::FailedPreconditionError("rank already connected");
    claimed_[rank] = true;
    channel_.Send(absl::StrCat("0 claim ", rank));
    return absl::OkStatus();
  }
  void ReleaseRank(int rank) override {
    if (rank >= 0 && rank < info_.size) claimed_[rank] = false;
  }
  void Put(int rank, std::string key, std::string value, Done done) override {
    Request(absl::StrCat("put ", rank, " ", key, " ", value),
            [done](absl::StatusOr<std::string> r) { done(r.status()); });
  }
  void Get(int rank, std::string key, GetDone done) override {
    Request(absl::StrCat("get ", rank, " ", key), std::move(done));
  }
  void Barrier(int rank, Done done) override {
    Request(absl::StrCat("barrier ", rank),
            [done](absl::StatusOr<std::string> r) { done(r.status()); });
  }
  void PutNodeAttr(int, std::string, std::string, Done done) override {
    done(absl::UnimplementedError("no node attributes here"));
  }
  void GetNodeAttr(int, std::string, bool, GetDone done) override {
    done(absl::UnimplementedError("no node attributes here"));
  }
  void Abort(int rank, int exit_code, std::string message) override {
    channel_.Send(absl::StrCat("0 abort ", rank, " ", exit_code, " ", message));
  }
  void Finalized(int rank) override { channel_.Send(absl::StrCat("0 finalized ", rank)); }
  void Lost(int rank, std::string reason) override {
    channel_.Send(absl::StrCat("0 lost ", rank, " ", reason));
  }

 private:
  void Request(const std::string& body, GetDone done) {
    const uint64_t id = next_id_++;
    pending_[id] = std::move(done);
    channel_.Send(absl::StrCat(id, " ", body));
  }
  void OnLine(const std::string& line) {
    std::vector<std::string> parts = absl::StrSplit(line, absl::MaxSplits(' ', 2));
    uint64_t id = 0;
    if (parts.size() < 2 || !absl::SimpleAtoi(parts[0], &id)) return;
    if (id == 0 && parts[1] == "end") {
      on_end_();
      return;
    }
    auto node = pending_.extract(id);
    if (node.empty()) return;
    if (parts[1] == "ok") {
      node.mapped()(parts.size() > 2 ? parts[2] : std::string());
      return;
    }
    std::vector<std::string> err =
        absl::StrSplit(parts.size() > 2 ? parts[2] : "2 ?", absl::MaxSplits(' ', 1));
    int code = 2;
    (void)absl::SimpleAtoi(err[0], &code);
    node.mapped()(absl::Status(static_cast<absl::StatusCode>(code), err.size() > 1 ? err[1] : ""));
  }

  session::JobInfo info_;
  std::vector<bool> claimed_;
  LineChannel channel_;
  std::function<void()> on_end_;
  absl::flat_hash_map<uint64_t, GetDone> pending_;
  uint64_t next_id_ = 1;
};

std::vector<std::string> RankEnvironment(const std::vector<std::string>& client,
                                         const Config& config) {
  std::map<std::string, std::string> by_name;
  std::vector<std::string> order;
  auto add = [&](const std::string& entry) {
    const std::string name = entry.substr(0, entry.find('='));
    if (by_name.count(name) == 0) order.push_back(name);
    by_name[name] = entry;
  };
  for (char** entry = environ; *entry != nullptr; ++entry) {
    absl::string_view text = *entry;
    if (absl::StartsWith(text, "PMI_") || absl::StartsWith(text, "PMIX_")) continue;
    add(std::string(text));
  }
  for (const std::string& entry : client) add(entry);
  for (const std::string& entry : config.env) add(entry);
  std::vector<std::string> env;
  for (const std::string& name : order) env.push_back(by_name[name]);
  return env;
}

// The exit code a shell would show for a waitpid() status.
int ExitCodeOf(int wait_status) {
  return WIFEXITED(wait_status) ? WEXITSTATUS(wait_status) : 128 + WTERMSIG(wait_status);
}

// Calls `reap` every 10 ms until it says no children are left, then stops `loop`.
// Must outlive loop.Run().
class ReapTimer {
 public:
  ReapTimer(EventLoop& loop, std::function<bool()> reap) : loop_(loop), reap_(std::move(reap)) {
    Schedule();
  }
  ReapTimer(const ReapTimer&) = delete;
  ReapTimer& operator=(const ReapTimer&) = delete;

 private:
  void Schedule() {
    loop_.AddTimer(absl::Milliseconds(10), [this] { Tick(); });
  }
  void Tick() {
    if (reap_()) {
      loop_.Stop();
      return;
    }
    Schedule();
  }

  EventLoop& loop_;
  std::function<bool()> reap_;
};

// Forks a rank in its own process group that execs `command` with exactly `env`.
// Returns what fork() returned.
pid_t ForkRank(const std::vector<std::string>& command, const std::vector<std::string>& env) {
  const pid_t pid = ::fork();
  if (pid != 0) return pid;
  ::setpgid(0, 0);
  std::vector<char*> argv;
  for (const std::string& arg : command) argv.push_back(const_cast<char*>(arg.c_str()));
  argv.push_back(nullptr);
  std::vector<char*> envp;
  for (const std::string& entry : env) envp.push_back(const_cast<char*>(entry.c_str()));
  envp.push_back(nullptr);
  ::execvpe(argv[0], argv.data(), envp.data());
  std::fprintf(stderr, "driver: exec %s: %s\n", argv[0], std::strerror(errno));
  ::_exit(127);
}

// Forks every rank of `ranks` with its PMIx client environment. False (after saying why) when
// `server` has no environment for a rank; the ranks forked before it keep running.
bool StartRanks(PmixServer& server, const std::vector<int>& ranks, const Config& config,
                std::map<pid_t, int>* rank_of_pid) {
  for (int rank : ranks) {
    absl::StatusOr<std::vector<std::string>> client = server.ClientEnvironment(rank);
    if (!client.ok()) {
      Say(absl::StrCat("ClientEnvironment(", rank, "): ", client.status().ToString()));
      return false;
    }
    std::vector<std::string> env = RankEnvironment(*client, config);
    (*rank_of_pid)[ForkRank(config.command, env)] = rank;
  }
  return true;
}

void KillAllRanks(const std::map<pid_t, int>& rank_of_pid, int sig) {
  for (const auto& [pid, rank] : rank_of_pid) ::kill(-pid, sig);
}

// Reaps the ranks that have exited so far and tells `server`; sets *status to 2 when one exited
// non-zero. Other children are reaped and ignored.
void ReapExitedRanks(PmixServer& server, std::map<pid_t, int>* rank_of_pid, int* status) {
  int wait_status;
  pid_t pid;
  while ((pid = ::waitpid(-1, &wait_status, WNOHANG)) > 0) {
    auto it = rank_of_pid->find(pid);
    if (it == rank_of_pid->end()) continue;
    const int code = ExitCodeOf(wait_status);
    Say(absl::StrCat("rank ", it->second, " exit ", code));
    server.RankExited(it->second, absl::StrCat("exited with status ", code));
    if (code != 0) *status = 2;
    rank_of_pid->erase(it);
  }
}

void SayServerStats(int server_index, const std::vector<int>& ranks,
                    const PmixServer::Stats& stats) {
  Say(absl::StrCat("server ", server_index, " ranks ", ranks.front(), "-", ranks.back(),
                   " fence_upcalls=", stats.fence_upcalls,
                   " direct_modex_upcalls=", stats.direct_modex_upcalls));
}

// Serves `ranks` with a PmixServer over `host` until they all exited.
// Returns 0 when they all exited 0 and the job stayed healthy.
int RunServer(EventLoop& loop, session::JobHost& host, int server_index,
              const std::vector<int>& ranks, const std::vector<int>& node_of_rank,
              const Config& config, bool* job_failed,
              std::function<void(std::function<void()>)> set_end_hook) {
  PmixServer::Options options;
  options.local_ranks = ranks;
  options.node_of_rank = node_of_rank;
  absl::StatusOr<std::unique_ptr<PmixServer>> server = PmixServer::Start(loop, host, options);
  if (!server.ok()) {
    Say(absl::StrCat("cannot start the PMIx server: ", server.status().ToString()));
    return 1;
  }
  std::map<pid_t, int> rank_of_pid;
  if (!StartRanks(**server, ranks, config, &rank_of_pid)) return 1;
  set_end_hook([&] {
    *job_failed = true;
    KillAllRanks(rank_of_pid, SIGTERM);
  });
  int status = 0;
  ReapTimer reaper(loop, [&] {
    ReapExitedRanks(**server, &rank_of_pid, &status);
    return rank_of_pid.empty();
  });
  loop.AddTimer(absl::Seconds(config.timeout_seconds), [&] {
    Say("timeout: killing the ranks");
    *job_failed = true;
    KillAllRanks(rank_of_pid, SIGKILL);
  });
  (void)loop.Run();
  SayServerStats(server_index, ranks, (*server)->stats());
  (*server)->Stop();
  set_end_hook(nullptr);
  return *job_failed ? 2 : status;
}

upstream::EmbeddedHost::Events ReportingEvents(bool* failed, std::function<void()>* end_job) {
  upstream::EmbeddedHost::Events events;
  events.abort = [failed, end_job](int rank, int code, const std::string& message) {
    Say(absl::StrCat("abort rank ", rank, " code ", code, ": ", message));
    *failed = true;
    if (*end_job) (*end_job)();
  };
  events.lost = [failed, end_job](int rank, const std::string& reason) {
    Say(absl::StrCat("lost rank ", rank, ": ", reason));
    *failed = true;
    if (*end_job) (*end_job)();
  };
  return events;
}

int RunSingle(const Config& config) {
  EventLoop loop;
  bool failed = false;
  std::function<void()> end_job;
  upstream::EmbeddedHost host(MakeJobInfo(config.np), ReportingEvents(&failed, &end_job));
  std::vector<int> ranks;
  for (int rank = 0; rank < config.np; ++rank) ranks.push_back(rank);
  return RunServer(loop, host, 0, ranks, {}, config, &failed,
                   [&](std::function<void()> hook) { end_job = std::move(hook); });
}

// Which server serves which ranks: contiguous, near-equal blocks.
struct RankLayout {
  std::vector<std::vector<int>> blocks;  // by server
  std::vector<int> node_of_rank;         // the server of each rank
};

RankLayout SplitRanksAmongServers(const Config& config) {
  RankLayout layout;
  layout.blocks.resize(config.servers);
  layout.node_of_rank.resize(config.np);
  for (int rank = 0; rank < config.np; ++rank) {
    const int server = static_cast<int>(static_cast<long>(rank) * config.servers / config.np);
    layout.blocks[server].push_back(rank);
    layout.node_of_rank[rank] = server;
  }
  return layout;
}

// The body of server process `server_index`: a PmixServer over a ProxyHost on `fd`.
[[noreturn]] void RunServerProcess(int fd, const session::JobInfo& info, int server_index,
                                   const RankLayout& layout, const Config& config) {
  EventLoop loop;
  bool failed = false;
  std::function<void()> end_job;
  ProxyHost host(loop, fd, info, [&] {
    if (end_job) end_job();
  });
  const int status =
      RunServer(loop, host, server_index, layout.blocks[server_index], layout.node_of_rank, config,
                &failed, [&](std::function<void()> hook) { end_job = std::move(hook); });
  ::_exit(status);
}

struct ServerProcesses {
  std::vector<int> broker_fds;  // this process's end of each server's socketpair
  std::vector<pid_t> children;
};

// Forks the K server processes. False when a socketpair cannot be made.
bool ForkServers(const session::JobInfo& info, const RankLayout& layout, const Config& config,
                 ServerProcesses* servers) {
  for (int s = 0; s < config.servers; ++s) {
    int pair[2];
    if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair) != 0) return false;
    const pid_t pid = ::fork();
    if (pid == 0) {
      for (int fd : servers->broker_fds) ::close(fd);
      ::close(pair[0]);
      RunServerProcess(pair[1], info, s, layout, config);
    }
    ::close(pair[1]);
    servers->broker_fds.push_back(pair[0]);
    servers->children.push_back(pid);
  }
  return true;
}

using BrokerAnswer = std::function<void(absl::StatusOr<std::string>)>;

// Adapts `answer` to the JobHost operations that report only a status.
session::JobHost::Done AnswerEmpty(BrokerAnswer answer) {
  return [answer](absl::Status s) {
    answer(s.ok() ? absl::StatusOr<std::string>("") : absl::StatusOr<std::string>(s));
  };
}

// A request line from a server process is "ID VERB RANK [ARG [REST]]", split into at most 5
// parts. A verb is served only when the line has between min_parts and max_parts parts.
struct BrokerVerb {
  const char* verb;
  size_t min_parts;
  size_t max_parts;
  void (*serve)(upstream::EmbeddedHost& host, int rank, const std::vector<std::string>& parts,
                const BrokerAnswer& answer);
};

constexpr BrokerVerb kBrokerVerbs[] = {
    {"put", 5, 5,
     [](upstream::EmbeddedHost& host, int rank, const std::vector<std::string>& parts,
        const BrokerAnswer& answer) { host.Put(rank, parts[3], parts[4], AnswerEmpty(answer)); }},
    {"get", 4, 5,
     [](upstream::EmbeddedHost& host, int rank, const std::vector<std::string>& parts,
        const BrokerAnswer& answer) { host.Get(rank, parts[3], answer); }},
    {"barrier", 3, 5,
     [](upstream::EmbeddedHost& host, int rank, const std::vector<std::string>& parts,
        const BrokerAnswer& answer) { host.Barrier(rank, AnswerEmpty(answer)); }},
    {"claim", 3, 5,
     [](upstream::EmbeddedHost& host, int rank, const std::vector<std::string>& parts,
        const BrokerAnswer& answer) { (void)host.ClaimRank(rank); }},
    {"finalized", 3, 5,
     [](upstream::EmbeddedHost& host, int rank, const std::vector<std::string>& parts,
        const BrokerAnswer& answer) { host.Finalized(rank); }},
    {"abort", 3, 5,
     [](upstream::EmbeddedHost& host, int rank, const std::vector<std::string>& parts,
        const BrokerAnswer& answer) {
       int code = 1;
       if (parts.size() > 3) (void)absl::SimpleAtoi(parts[3], &code);
       host.Abort(rank, code, parts.size() > 4 ? parts[4] : "");
     }},
    {"lost", 3, 5,
     [](upstream::EmbeddedHost& host, int rank, const std::vector<std::string>& parts,
        const BrokerAnswer& answer) {
       std::string reason = parts.size() > 3 ? parts[3] : "";
       if (parts.size() > 4) absl::StrAppend(&reason, " ", parts[4]);
       host.Lost(rank, reason);
     }},
};

// Serves one request line from server `index`; answers go back as "ID ok VALUE" or
// "ID err CODE MESSAGE". Malformed lines and unknown verbs are ignored.
void ServeBrokerRequest(upstream::EmbeddedHost& host,
                        std::vector<std::unique_ptr<LineChannel>>& channels, size_t index,
                        const std::string& line) {
  std::vector<std::string> parts = absl::StrSplit(line, absl::MaxSplits(' ', 4));
  uint64_t id = 0;
  int rank = -1;
  if (parts.size() < 3 || !absl::SimpleAtoi(parts[0], &id) || !absl::SimpleAtoi(parts[2], &rank))
    return;
  BrokerAnswer answer = [&channels, index, id](absl::StatusOr<std::string> result) {
    if (result.ok()) {
      channels[index]->Send(absl::StrCat(id, " ok ", *result));
    } else {
      channels[index]->Send(absl::StrCat(id, " err ", static_cast<int>(result.status().code()), " ",
                                         result.status().message()));
    }
  };
  for (const BrokerVerb& verb : kBrokerVerbs) {
    if (parts[1] != verb.verb) continue;
    if (parts.size() >= verb.min_parts && parts.size() <= verb.max_parts) {
      verb.serve(host, rank, parts, answer);
    }
    return;
  }
}

// The driver process: the job's EmbeddedHost, serving K server processes.
int RunBroker(const Config& config) {
  const session::JobInfo info = MakeJobInfo(config.np);
  const RankLayout layout = SplitRanksAmongServers(config);
  ServerProcesses servers;
  if (!ForkServers(info, layout, config, &servers)) return 1;
  EventLoop loop;
  bool failed = false;
  std::vector<std::unique_ptr<LineChannel>> channels;
  std::function<void()> end_job = [&] {
    for (auto& channel : channels) channel->Send("0 end");
  };
  upstream::EmbeddedHost host(info, ReportingEvents(&failed, &end_job));
  for (int fd : servers.broker_fds) {
    channels.push_back(std::make_unique<LineChannel>(
        loop, fd,
        [&host, &channels, index = channels.size()](std::string line) {
          ServeBrokerRequest(host, channels, index, line);
        },
        [] {}));
  }
  int status = 0;
  size_t running = servers.children.size();
  ReapTimer reaper(loop, [&] {
    int wait_status;
    while (::waitpid(-1, &wait_status, WNOHANG) > 0) {
      if (ExitCodeOf(wait_status) != 0) status = 2;
      --running;
    }
    return running == 0;
  });
  (void)loop.Run();
  channels.clear();
  return failed ? 2 : status;
}

}  // namespace
}  // namespace pmi_shim::downstream

int main(int argc, char** argv) {
  using pmi_shim::downstream::Config;
  pmi_shim::log::Init("pmix_job_driver");
  Config config;
  int i = 1;
  for (; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--") {
      ++i;
      break;
    }
    if (arg == "--np" && i + 1 < argc) {
      config.np = std::atoi(argv[++i]);
    } else if (arg == "--servers" && i + 1 < argc) {
      config.servers = std::atoi(argv[++i]);
    } else if (arg == "--netns") {
      config.netns = true;
    } else if (arg == "--env" && i + 1 < argc) {
      config.env.push_back(argv[++i]);
    } else if (arg == "--timeout" && i + 1 < argc) {
      config.timeout_seconds = std::atoi(argv[++i]);
    } else {
      std::fprintf(stderr, "pmix_job_driver: unknown option %s\n", argv[i]);
      return 1;
    }
  }
  for (; i < argc; ++i) config.command.push_back(argv[i]);
  if (config.command.empty() || config.np < 1 || config.servers < 1 || config.servers > config.np) {
    std::fprintf(
        stderr, "usage: pmix_job_driver --np N [--servers K] [--netns] [--env N=V]... -- CMD...\n");
    return 1;
  }
  if (config.netns) {
    std::string why;
    if (!pmi_shim::downstream::EnterNetns(&why)) {
      std::printf("driver: SKIP no private network namespace: %s\n", why.c_str());
      return 77;
    }
  }
  ::signal(SIGPIPE, SIG_IGN);
  return config.servers == 1 ? pmi_shim::downstream::RunSingle(config)
                             : pmi_shim::downstream::RunBroker(config);
}
