#include "bridge/diagnose/trace_relay.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <memory>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "protocol/pmi/frame_decoder.h"

namespace pmi_shim::diagnose {
namespace {

struct Pair {
  int client = -1;
  int server = -1;
  int rank = 0;
  wire::FrameDecoder from_client;
  wire::FrameDecoder from_server;
  bool done = false;
};

bool WriteAll(int fd, const char* data, size_t size) {
  while (size > 0) {
    ssize_t n = write(fd, data, size);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    data += n;
    size -= static_cast<size_t>(n);
  }
  return true;
}

// Learns the rank a connection speaks for from the handshake.
void NoteRank(Pair& pair, const wire::Message& m) {
  std::optional<int64_t> rank;
  if (m.command == "initack") rank = m.FindInt("pmiid");
  if (m.command == "fullinit") rank = m.FindInt("pmirank");
  if (m.command == "set" && m.Has("rank")) rank = m.FindInt("rank");
  if (rank.has_value() && *rank >= 0) pair.rank = static_cast<int>(*rank);
}

void Decode(Pair& pair, wire::FrameDecoder& decoder, Direction direction, Transcript& transcript) {
  while (true) {
    absl::StatusOr<std::optional<wire::Frame>> frame = decoder.Next();
    if (!frame.ok()) {
      transcript.Note(absl::Now(), pair.rank, absl::StrCat("undecodable bytes: ", frame.status().message()));
      return;
    }
    if (!frame->has_value()) return;
    absl::StatusOr<wire::Message> message = wire::ParseFrame(**frame);
    if (!message.ok()) {
      transcript.Note(absl::Now(), pair.rank,
                      absl::StrCat(direction == Direction::kClientToServer ? "C->S" : "S->C",
                                   " unparsable: ", (*frame)->payload, " (", message.status().message(), ")"));
      continue;
    }
    NoteRank(pair, *message);
    transcript.Record(absl::Now(), pair.rank, direction, *message, (*frame)->payload);
  }
}

absl::StatusOr<int> ConnectTcp(const std::string& host, int port) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* results = nullptr;
  if (int rc = getaddrinfo(host.c_str(), std::to_string(port).c_str(), &hints, &results); rc != 0) {
    return absl::UnavailableError(absl::StrCat("cannot resolve PMI_PORT host ", host, ": ", gai_strerror(rc)));
  }
  int fd = -1;
  for (addrinfo* a = results; a != nullptr; a = a->ai_next) {
    fd = socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC, a->ai_protocol);
    if (fd < 0) continue;
    if (connect(fd, a->ai_addr, a->ai_addrlen) == 0) break;
    close(fd);
    fd = -1;
  }
  freeaddrinfo(results);
  if (fd < 0) return absl::UnavailableError(absl::StrCat("cannot connect to PMI_PORT ", host, ":", port));
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  return fd;
}

pid_t Spawn(const std::vector<std::string>& command, const std::vector<std::pair<std::string, std::string>>& set,
            const std::vector<std::string>& unset) {
  pid_t pid = fork();
  if (pid != 0) return pid;
  for (const std::string& name : unset) unsetenv(name.c_str());
  for (const auto& [name, value] : set) setenv(name.c_str(), value.c_str(), 1);
  std::vector<char*> argv;
  for (const std::string& a : command) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  execvp(argv[0], argv.data());
  _exit(127);
}

}  // namespace

absl::StatusOr<int> RunTrace(const upstream::Environment& env, const std::vector<std::string>& command,
                             Transcript& transcript) {
  absl::StatusOr<upstream::HostEndpoint> endpoint = upstream::DetectHostEndpoint(env, upstream::UpstreamChoice::kAuto);
  if (!endpoint.ok()) return endpoint.status();
  if (endpoint->family != upstream::HostFamily::kPmiWire) {
    return absl::UnimplementedError(
        "trace decodes the PMI-1/PMI-2 wire; this environment names a PMIx server: use 'pmi-bridge probe' for it");
  }
  signal(SIGPIPE, SIG_IGN);
  std::vector<std::unique_ptr<Pair>> pairs;
  int listener = -1;
  const int default_rank = endpoint->rank.value_or(endpoint->id.value_or(0));
  pid_t child;
  if (endpoint->fd.has_value()) {
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0) return absl::InternalError("socketpair failed");
    fcntl(sv[0], F_SETFD, FD_CLOEXEC);
    fcntl(*endpoint->fd, F_SETFD, FD_CLOEXEC);  // the command must only see our end
    child = Spawn(command, {{"PMI_FD", std::to_string(sv[1])}}, {});
    close(sv[1]);
    auto pair = std::make_unique<Pair>();
    pair->client = sv[0];
    pair->server = *endpoint->fd;
    pair->rank = default_rank;
    pairs.push_back(std::move(pair));
  } else {
    listener = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof(addr);
    if (listener < 0 || bind(listener, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 ||
        listen(listener, 16) != 0 || getsockname(listener, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
      return absl::InternalError("cannot listen on 127.0.0.1 for the traced PMI_PORT");
    }
    child = Spawn(command, {{"PMI_PORT", absl::StrCat("127.0.0.1:", ntohs(addr.sin_port))}}, {});
  }
  if (child < 0) return absl::InternalError("fork failed");

  int status = 0;
  bool exited = false;
  absl::Time exited_at;
  while (true) {
    if (!exited && waitpid(child, &status, WNOHANG) == child) {
      exited = true;
      exited_at = absl::Now();
    }
    bool open = false;
    for (const auto& p : pairs) open |= !p->done;
    // After the command exits, give the connections a moment to drain.
    if (exited && (!open || absl::Now() - exited_at > absl::Seconds(1))) break;
    std::vector<pollfd> fds;
    std::vector<std::pair<Pair*, bool>> owners;  // (pair, from_client)
    if (listener >= 0) fds.push_back({listener, POLLIN, 0}), owners.emplace_back(nullptr, false);
    for (const auto& p : pairs) {
      if (p->done) continue;
      fds.push_back({p->client, POLLIN, 0});
      owners.emplace_back(p.get(), true);
      fds.push_back({p->server, POLLIN, 0});
      owners.emplace_back(p.get(), false);
    }
    int ready = poll(fds.data(), fds.size(), 50);
    if (ready <= 0) continue;
    for (size_t i = 0; i < fds.size(); ++i) {
      if (fds[i].revents == 0) continue;
      Pair* pair = owners[i].first;
      if (pair == nullptr) {
        int client = accept4(listener, nullptr, nullptr, SOCK_CLOEXEC);
        if (client < 0) continue;
        absl::StatusOr<int> server = ConnectTcp(*endpoint->port_host, *endpoint->port);
        if (!server.ok()) {
          transcript.Note(absl::Now(), default_rank, server.status().message());
          close(client);
          continue;
        }
        auto p = std::make_unique<Pair>();
        p->client = client;
        p->server = *server;
        p->rank = default_rank;
        pairs.push_back(std::move(p));
        continue;
      }
      if (pair->done) continue;
      const bool from_client = owners[i].second;
      char buffer[65536];
      ssize_t n = read(from_client ? pair->client : pair->server, buffer, sizeof(buffer));
      if (n < 0 && (errno == EINTR || errno == EAGAIN)) continue;
      if (n <= 0) {
        transcript.RecordClose(absl::Now(), pair->rank,
                               from_client ? Direction::kClientToServer : Direction::kServerToClient);
        close(pair->client);
        close(pair->server);
        pair->done = true;
        continue;
      }
      // Record before forwarding: a server that reacts to a bad message by
      // killing the job (hydra) must not cut the transcript short.
      wire::FrameDecoder& decoder = from_client ? pair->from_client : pair->from_server;
      decoder.Feed(absl::string_view(buffer, static_cast<size_t>(n)));
      Decode(*pair, decoder, from_client ? Direction::kClientToServer : Direction::kServerToClient, transcript);
      WriteAll(from_client ? pair->server : pair->client, buffer, static_cast<size_t>(n));
    }
  }
  for (const auto& p : pairs) {
    if (!p->done) {
      close(p->client);
      close(p->server);
    }
  }
  if (listener >= 0) close(listener);
  if (!exited) waitpid(child, &status, 0);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return WEXITSTATUS(status);
}

}  // namespace pmi_shim::diagnose
