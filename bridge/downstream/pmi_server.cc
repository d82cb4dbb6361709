#include "bridge/downstream/pmi_server.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <utility>

#include "absl/strings/str_cat.h"
#include "protocol/pmi/frame_decoder.h"
#include "common/log.h"
#include "common/sockets.h"
#include "common/status_macros.h"

namespace pmi_shim::downstream {
namespace {

std::string DescribePeer(int fd) {
  sockaddr_storage address{};
  socklen_t length = sizeof(address);
  if (::getpeername(fd, reinterpret_cast<sockaddr*>(&address), &length) == 0 &&
      address.ss_family == AF_INET) {
    const auto* in = reinterpret_cast<const sockaddr_in*>(&address);
    char text[INET_ADDRSTRLEN] = {};
    ::inet_ntop(AF_INET, &in->sin_addr, text, sizeof(text));
    return absl::StrCat("client at ", text, ":", ntohs(in->sin_port));
  }
  return "client on a Unix socket";
}

}  // namespace

// One client socket: bytes in → frames → session; replies → bytes out.
class PmiServer::Connection {
 public:
  Connection(PmiServer& server, UniqueFd fd, session::SessionOptions options)
      : server_(server), fd_(std::move(fd)) {
    session::SessionCallbacks callbacks;
    callbacks.send = [this](std::string bytes) { Send(std::move(bytes)); };
    callbacks.warn = [](absl::string_view problem) { log::Warning(problem); };
    callbacks.fail = [this](absl::string_view reason) { Fail(std::string(reason)); };
    if (server_.options_.trace || server_.options_.observer) {
      callbacks.trace = [this](bool from_client, const wire::Message& message) {
        if (server_.options_.trace) {
          log::Debug(absl::StrCat(session_->Who(), from_client ? " -> " : " <- ",
                                  message.DebugString()));
        }
        if (server_.options_.observer) {
          server_.options_.observer(session_->rank(), from_client, message);
        }
      };
    }
    session_ = session::ServerSession::Create(server_.host_, std::move(options),
                                              std::move(callbacks));
  }

  int fd() const { return fd_.get(); }
  session::ServerSession& session() { return *session_; }

  void OnEvents(uint32_t events) {
    if (events & (EPOLLIN | EPOLLHUP | EPOLLERR)) ReadAvailable();
    if (!closed_ && (events & EPOLLOUT)) Flush();
  }

  // Reads until the socket would block, handling every complete frame.
  void ReadAvailable() {
    char buffer[64 * 1024];
    while (!closed_) {
      const ssize_t n = ::recv(fd_.get(), buffer, sizeof(buffer), MSG_DONTWAIT);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
      if (n <= 0) {
        Disconnected(n == 0 ? "closed its PMI connection" : std::strerror(errno));
        return;
      }
      decoder_.Feed(absl::string_view(buffer, static_cast<size_t>(n)));
      HandleFrames();
    }
  }

  // Ends the session for a protocol failure; `reason` names the client.
  void Fail(const std::string& reason) {
    if (closed_) return;
    if (!Close(reason)) log::Error(reason);  // else the JobHost reports it
  }

 private:
  void HandleFrames() {
    while (!closed_) {
      absl::StatusOr<std::optional<wire::Frame>> frame = decoder_.Next();
      if (!frame.ok()) {
        const bool too_long = absl::IsResourceExhausted(frame.status());
        Fail(absl::StrCat(session_->Who(),
                          too_long ? ": PMI message too long (" : ": malformed PMI stream (",
                          frame.status().message(),
                          too_long ? "); PMI values are limited to 1024 bytes"
                                   : "); is the client speaking PMI-1/PMI-2?"));
        return;
      }
      if (!frame->has_value()) return;
      absl::Status handled = session_->HandleFrame(**frame);
      if (session_->rank().has_value()) server_.MarkSpoke(*session_->rank());
      if (!handled.ok()) {
        Fail(std::string(handled.message()));
        return;
      }
    }
  }

  void Disconnected(const std::string& how) {
    if (closed_) return;
    // The JobHost hears of a loss that matters through Close(); a client that
    // never claimed its rank holds nobody up.
    Close(absl::StrCat(session_->Who(), ": ", how,
                       " without finalize; the process exited or crashed before "
                       "PMI_Finalize/MPI_Finalize"));
  }

  void Send(std::string bytes) {
    if (closed_) return;
    outbox_ += bytes;
    Flush();
  }

  void Flush() {
    while (!outbox_.empty()) {
      const ssize_t n = ::send(fd_.get(), outbox_.data(), outbox_.size(), MSG_NOSIGNAL);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
      if (n < 0) {
        Disconnected(std::strerror(errno));
        return;
      }
      outbox_.erase(0, static_cast<size_t>(n));
    }
    const bool want_out = !outbox_.empty();
    if (want_out != watching_out_) {
      watching_out_ = want_out;
      (void)server_.loop_.Modify(fd_.get(), want_out ? (EPOLLIN | EPOLLOUT) : EPOLLIN);
    }
  }

  // Returns whether the session reported a loss to the JobHost.
  bool Close(const std::string& reason) {
    if (closed_) return false;
    closed_ = true;
    const bool reported = session_->Close(reason);
    server_.Retire(fd_.get());
    return reported;
  }

  PmiServer& server_;
  UniqueFd fd_;
  std::shared_ptr<session::ServerSession> session_;
  wire::FrameDecoder decoder_;
  std::string outbox_;
  bool watching_out_ = false;
  bool closed_ = false;
};

PmiServer::PmiServer(EventLoop& loop, session::JobHost& host, ServerOptions options)
    : loop_(loop), host_(host), options_(options), rank_spoke_(host.info().size, false) {}

PmiServer::~PmiServer() { Shutdown(); }

void PmiServer::MarkSpoke(int rank) {
  if (rank >= 0 && rank < static_cast<int>(rank_spoke_.size())) rank_spoke_[rank] = true;
}

bool PmiServer::RankSpoke(int rank) const {
  return rank >= 0 && rank < static_cast<int>(rank_spoke_.size()) && rank_spoke_[rank];
}

absl::Status PmiServer::AddConnectedClient(UniqueFd fd, int rank) {
  RETURN_IF_ERROR(SetNonBlocking(fd.get()));
  session::SessionOptions options;
  options.rank = rank;
  options.peer = absl::StrCat("rank ", rank);
  options.protocols = options_.protocols;
  Register(std::make_unique<Connection>(*this, std::move(fd), std::move(options)));
  return absl::OkStatus();
}

void PmiServer::Register(std::unique_ptr<Connection> connection) {
  const int fd = connection->fd();
  Connection* raw = connection.get();
  connections_[fd] = std::move(connection);
  absl::Status watched = loop_.Watch(fd, EPOLLIN, [raw](uint32_t events) { raw->OnEvents(events); });
  if (!watched.ok()) raw->Fail(absl::StrCat("cannot watch a client socket: ", watched.message()));
}

void PmiServer::Retire(int fd) {
  loop_.Unwatch(fd);
  auto node = connections_.extract(fd);
  if (node.empty()) return;
  // The connection may be running one of its own handlers: destroy it later.
  retired_.push_back(std::move(node.mapped()));
  if (retired_.size() == 1) {
    cleanup_timer_ = loop_.AddTimer(absl::ZeroDuration(), [this] {
      cleanup_timer_ = 0;
      retired_.clear();
    });
  }
}

absl::StatusOr<int> PmiServer::ListenTcp(const std::string& address, int port) {
  ASSIGN_OR_RETURN(TcpListener listener, ListenTcp4(address, port));
  RETURN_IF_ERROR(Listen(std::move(listener.fd), absl::StrCat(address, ":", listener.port)));
  return listener.port;
}

absl::Status PmiServer::ListenUnix(const std::string& path) {
  ASSIGN_OR_RETURN(UniqueFd listener, pmi_shim::ListenUnix(path));
  unix_paths_.push_back(path);
  return Listen(std::move(listener), path);
}

absl::Status PmiServer::ListenUnixForRank(const std::string& path, int rank) {
  ASSIGN_OR_RETURN(UniqueFd listener, pmi_shim::ListenUnix(path));
  unix_paths_.push_back(path);
  return Listen(std::move(listener), path, rank);
}

absl::Status PmiServer::Listen(UniqueFd listener, std::string description,
                               std::optional<int> fixed_rank) {
  const int fd = listener.get();
  RETURN_IF_ERROR(loop_.Watch(fd, EPOLLIN, [this, fd, description, fixed_rank](uint32_t) {
    Accept(fd, description, fixed_rank);
  }));
  listeners_.push_back(std::move(listener));
  return absl::OkStatus();
}

bool PmiServer::PeerMayConnect(int fd, const std::string& description) {
  absl::StatusOr<ucred> peer = PeerCredentials(fd);
  const uid_t self = ::getuid();
  if (peer.ok() && (peer->uid == self || peer->uid == 0)) return true;
  log::Warning(absl::StrCat(
      "refused a client on ", description, ": ",
      peer.ok() ? absl::StrCat("it runs as uid ", peer->uid, ", this job as uid ", self)
                : std::string(peer.status().message()),
      "; only the job's own user may speak for its rank"));
  return false;
}

void PmiServer::Accept(int listener_fd, const std::string& description,
                       std::optional<int> fixed_rank) {
  while (true) {
    UniqueFd client(::accept4(listener_fd, nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK));
    if (!client.valid()) {
      if (errno == EINTR) continue;
      if (errno != EAGAIN && errno != EWOULDBLOCK) {
        log::Warning(absl::StrCat("accept on ", description, ": ", std::strerror(errno)));
      }
      return;
    }
    session::SessionOptions options;
    options.protocols = options_.protocols;
    if (fixed_rank.has_value() && !PeerMayConnect(client.get(), description)) continue;
    if (options_.before_serving) {
      if (absl::Status ready = options_.before_serving(); !ready.ok()) {
        log::Error(absl::StrCat("cannot serve a client on ", description, ": ", ready.message()));
        continue;
      }
    }
    if (fixed_rank.has_value()) {
      options.rank = fixed_rank;
      options.peer = absl::StrCat("rank ", *fixed_rank);
      options.release_if_only_looked = true;
      Register(std::make_unique<Connection>(*this, std::move(client), std::move(options)));
      continue;
    }
    const int one = 1;
    ::setsockopt(client.get(), IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    options.peer = DescribePeer(client.get());
    const int fd = client.get();
    Register(std::make_unique<Connection>(*this, std::move(client), std::move(options)));
    if (options_.identify_timeout > absl::ZeroDuration()) {
      loop_.AddTimer(options_.identify_timeout, [this, fd, timeout = options_.identify_timeout] {
        auto it = connections_.find(fd);
        if (it == connections_.end() || it->second->session().rank().has_value()) return;
        it->second->Fail(absl::StrCat(it->second->session().Who(), ": sent nothing that names "
                                      "its rank within ", absl::FormatDuration(timeout),
                                      "; disconnected (set PMI_ID for PMI_PORT clients)"));
      });
    }
  }
}

void PmiServer::DrainAll() {
  std::vector<Connection*> open;
  for (auto& [fd, connection] : connections_) open.push_back(connection.get());
  for (Connection* connection : open) {
    if (connections_.contains(connection->fd())) connection->ReadAvailable();
  }
}

void PmiServer::Shutdown() {
  if (cleanup_timer_ != 0) loop_.CancelTimer(cleanup_timer_);
  cleanup_timer_ = 0;
  for (auto& [fd, connection] : connections_) loop_.Unwatch(fd);
  connections_.clear();
  retired_.clear();
  for (UniqueFd& listener : listeners_) loop_.Unwatch(listener.get());
  listeners_.clear();
  for (const std::string& path : unix_paths_) ::unlink(path.c_str());
  unix_paths_.clear();
}

}  // namespace pmi_shim::downstream
