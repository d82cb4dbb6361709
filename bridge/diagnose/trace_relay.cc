#include "bridge/diagnose/trace_relay.h"

#include <fcntl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <functional>
#include <memory>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/event_loop.h"
#include "common/net/byte_relay.h"
#include "common/net/relay_server.h"
#include "common/net/tcp_connect.h"
#include "common/sockets.h"
#include "common/status_macros.h"
#include "common/unique_fd.h"
#include "protocol/pmi/frame_decoder.h"

namespace pmi_shim::diagnose {
namespace {

// One traced connection: whose it is, and the two half-decoded streams.
struct Conversation {
  int rank = 0;
  wire::FrameDecoder from_client;
  wire::FrameDecoder from_server;
  bool close_recorded = false;
};

Direction Heading(net::Direction direction) {
  return direction == net::Direction::kClientToTarget ? Direction::kClientToServer
                                                      : Direction::kServerToClient;
}

// Learns the rank a connection speaks for from the handshake.
void NoteRank(Conversation& conversation, const wire::Message& m) {
  std::optional<int64_t> rank;
  if (m.command == "initack") rank = m.FindInt("pmiid");
  if (m.command == "fullinit") rank = m.FindInt("pmirank");
  if (m.command == "set" && m.Has("rank")) rank = m.FindInt("rank");
  if (rank.has_value() && *rank >= 0) conversation.rank = static_cast<int>(*rank);
}

void Decode(Conversation& conversation, wire::FrameDecoder& decoder, Direction direction,
            Transcript& transcript) {
  while (true) {
    absl::StatusOr<std::optional<wire::Frame>> frame = decoder.Next();
    if (!frame.ok()) {
      transcript.Note(absl::Now(), conversation.rank,
                      absl::StrCat("undecodable bytes: ", frame.status().message()));
      return;
    }
    if (!frame->has_value()) return;
    absl::StatusOr<wire::Message> message = wire::ParseFrame(**frame);
    if (!message.ok()) {
      transcript.Note(
          absl::Now(), conversation.rank,
          absl::StrCat(direction == Direction::kClientToServer ? "C->S" : "S->C",
                       " unparsable: ", (*frame)->payload, " (", message.status().message(), ")"));
      continue;
    }
    NoteRank(conversation, *message);
    transcript.Record(absl::Now(), conversation.rank, direction, *message, (*frame)->payload);
  }
}

// Decodes a conversation's bytes as the relay reads them, before it forwards
// them: a server that kills the job on a bad message cannot cut the
// transcript short.
net::ByteRelay::Tap TapFor(Conversation& conversation, Transcript& transcript) {
  net::ByteRelay::Tap tap;
  tap.on_bytes = [&conversation, &transcript](net::Direction direction, absl::string_view bytes) {
    wire::FrameDecoder& decoder = direction == net::Direction::kClientToTarget
                                      ? conversation.from_client
                                      : conversation.from_server;
    decoder.Feed(bytes);
    Decode(conversation, decoder, Heading(direction), transcript);
  };
  // The side that closes first is the news; the other follows the half-close.
  tap.on_eof = [&conversation, &transcript](net::Direction direction) {
    if (conversation.close_recorded) return;
    conversation.close_recorded = true;
    transcript.RecordClose(absl::Now(), conversation.rank, Heading(direction));
  };
  return tap;
}

pid_t Spawn(const std::vector<std::string>& command,
            const std::vector<std::pair<std::string, std::string>>& set) {
  pid_t pid = fork();
  if (pid != 0) return pid;
  for (const auto& [name, value] : set) setenv(name.c_str(), value.c_str(), 1);
  std::vector<char*> argv;
  for (const std::string& a : command) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  execvp(argv[0], argv.data());
  _exit(127);
}

// The traced command's connections, relayed on one event loop.
class Tracer {
 public:
  Tracer(Transcript& transcript, int default_rank)
      : transcript_(transcript), default_rank_(default_rank) {}

  // PMI_FD: `client_end` (the command's socketpair) ↔ the real `server_fd`.
  absl::Status RelayInheritedFd(UniqueFd client_end, UniqueFd server_fd) {
    net::ByteRelay::Options options;
    options.target_description = "the PMI_FD server";
    options.tap = TapFor(NewConversation(), transcript_);
    ASSIGN_OR_RETURN(fd_relay_,
                     net::ByteRelay::Start(loop_, std::move(client_end), std::move(server_fd),
                                           net::Stream::State::kConnected, std::move(options),
                                           [this](const absl::Status&) { ConnectionEnded(); }));
    return absl::OkStatus();
  }

  // PMI_PORT: every client of `listener` ↔ a new connection to host:port.
  absl::Status RelayPort(UniqueFd listener, const std::string& host, int port) {
    net::RelayServer::Options options;
    options.description = "the traced PMI_PORT";
    options.connector.description = absl::StrCat("PMI_PORT ", host, ":", port);
    options.connector.connect = [this, host, port]() -> absl::StatusOr<UniqueFd> {
      absl::StatusOr<UniqueFd> server = net::ConnectTcp(host, port, absl::Now() + kConnectTimeout);
      if (!server.ok()) transcript_.Note(absl::Now(), default_rank_, server.status().message());
      return server;
    };
    options.relay_options = [this](const net::Acceptor::Client&) {
      net::ByteRelay::Options relay;
      relay.tap = TapFor(NewConversation(), transcript_);
      return relay;
    };
    options.on_relay_done = [this](const absl::Status&) { ConnectionEnded(); };
    ASSIGN_OR_RETURN(port_relay_,
                     net::RelayServer::Start(loop_, std::move(listener), std::move(options)));
    return absl::OkStatus();
  }

  // Relays until `child` exited and its connections ended, or a second
  // after its exit (they get that long to drain). Returns its wait status.
  int RunUntilExit(pid_t child) {
    int status = 0;
    std::function<void()> check = [&] {
      if (::waitpid(child, &status, WNOHANG) != child) {
        loop_.AddTimer(absl::Milliseconds(50), check);
        return;
      }
      exited_ = true;
      if (OpenConnections() == 0) return loop_.Stop();
      loop_.AddTimer(absl::Seconds(1), [this] { loop_.Stop(); });
    };
    loop_.AddTimer(absl::ZeroDuration(), check);
    (void)loop_.Run();
    if (!exited_) ::waitpid(child, &status, 0);
    return status;
  }

 private:
  static constexpr absl::Duration kConnectTimeout = absl::Seconds(10);

  Conversation& NewConversation() {
    conversations_.push_back(std::make_unique<Conversation>());
    conversations_.back()->rank = default_rank_;
    return *conversations_.back();
  }

  size_t OpenConnections() const {
    return (fd_relay_ != nullptr && !fd_relay_->done() ? 1 : 0) +
           (port_relay_ != nullptr ? port_relay_->open_relays() : 0);
  }

  void ConnectionEnded() {
    if (exited_ && OpenConnections() == 0) loop_.Stop();
  }

  EventLoop loop_;
  Transcript& transcript_;
  const int default_rank_;
  // Outlive the relays whose taps write into them.
  std::vector<std::unique_ptr<Conversation>> conversations_;
  std::unique_ptr<net::ByteRelay> fd_relay_;
  std::unique_ptr<net::RelayServer> port_relay_;
  bool exited_ = false;
};

}  // namespace

absl::StatusOr<int> RunTrace(const upstream::Environment& env,
                             const std::vector<std::string>& command, Transcript& transcript) {
  absl::StatusOr<upstream::HostEndpoint> endpoint =
      upstream::DetectHostEndpoint(env, upstream::UpstreamChoice::kAuto);
  if (!endpoint.ok()) return endpoint.status();
  if (endpoint->family != upstream::HostFamily::kPmiWire) {
    return absl::UnimplementedError(
        "trace decodes the PMI-1/PMI-2 wire; this environment names a PMIx server: use 'pmi-bridge "
        "probe' for it");
  }
  const int default_rank = endpoint->rank.value_or(endpoint->id.value_or(0));
  Tracer tracer(transcript, default_rank);
  pid_t child;
  if (endpoint->fd.has_value()) {
    int sv[2];
    if (::socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0) {
      return absl::ErrnoToStatus(errno, "socketpair for the traced PMI_FD");
    }
    UniqueFd ours(sv[0]), theirs(sv[1]);
    ::fcntl(ours.get(), F_SETFD, FD_CLOEXEC);
    UniqueFd server(*endpoint->fd);
    ::fcntl(server.get(), F_SETFD, FD_CLOEXEC);  // the command must only see our end
    child = Spawn(command, {{"PMI_FD", std::to_string(theirs.get())}});
    theirs.Reset();
    RETURN_IF_ERROR(tracer.RelayInheritedFd(std::move(ours), std::move(server)));
  } else {
    absl::StatusOr<TcpListener> listener = ListenTcp4("127.0.0.1", 0);
    if (!listener.ok()) {
      return absl::InternalError(absl::StrCat(
          "cannot listen on 127.0.0.1 for the traced PMI_PORT: ", listener.status().message()));
    }
    child = Spawn(command, {{"PMI_PORT", absl::StrCat("127.0.0.1:", listener->port)}});
    RETURN_IF_ERROR(
        tracer.RelayPort(std::move(listener->fd), *endpoint->port_host, *endpoint->port));
  }
  if (child < 0) return absl::InternalError("fork failed");
  const int status = tracer.RunUntilExit(child);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return WEXITSTATUS(status);
}

}  // namespace pmi_shim::diagnose
