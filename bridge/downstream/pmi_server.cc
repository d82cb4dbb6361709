#include "bridge/downstream/pmi_server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/log.h"
#include "common/net/stream.h"
#include "common/sockets.h"
#include "common/status_macros.h"
#include "protocol/pmi/frame_decoder.h"

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
  Connection(PmiServer& server, uint64_t id, session::SessionOptions options)
      : server_(server), id_(id) {
    session::SessionCallbacks callbacks;
    callbacks.send = [this](std::string bytes) { Send(bytes); };
    callbacks.warn = [](absl::string_view problem) { log::Warning(problem); };
    callbacks.fail = [this](absl::string_view reason) { Fail(std::string(reason)); };
    if (server_.options_.trace || server_.options_.observer) {
      callbacks.trace = [this](bool from_client, const wire::Message& message) {
        if (server_.options_.trace) {
          log::Debug(
              absl::StrCat(session_->Who(), from_client ? " -> " : " <- ", message.DebugString()));
        }
        if (server_.options_.observer) {
          server_.options_.observer(session_->rank(), from_client, message);
        }
      };
    }
    session_ =
        session::ServerSession::Create(server_.host_, std::move(options), std::move(callbacks));
  }

  // Starts serving `fd`; on failure the connection is closed and retired.
  void Start(UniqueFd fd) {
    net::Stream::Handlers handlers;
    handlers.on_data = [this](absl::string_view bytes) {
      decoder_.Feed(bytes);
      HandleFrames();
    };
    handlers.on_eof = [this] { Disconnected("closed its PMI connection"); };
    handlers.on_error = [this](const net::Stream::Error& error) {
      Disconnected(std::strerror(error.error_number));
    };
    absl::StatusOr<std::unique_ptr<net::Stream>> stream =
        net::Stream::Start(server_.loop_, std::move(fd), std::move(handlers));
    if (!stream.ok()) {
      Fail(absl::StrCat("cannot watch a client socket: ", stream.status().message()));
      return;
    }
    stream_ = *std::move(stream);
  }

  uint64_t id() const { return id_; }
  session::ServerSession& session() { return *session_; }

  // Reads and handles everything the client has already sent.
  void ReadAvailable() {
    if (!closed_) stream_->ReadAvailable();
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

  void Send(absl::string_view bytes) {
    if (!closed_) stream_->Write(bytes);
  }

  // Returns whether the session reported a loss to the JobHost.
  bool Close(const std::string& reason) {
    if (closed_) return false;
    closed_ = true;
    if (stream_ != nullptr) stream_->Close();
    const bool reported = session_->Close(reason);
    server_.Retire(id_);
    return reported;
  }

  PmiServer& server_;
  const uint64_t id_;
  std::shared_ptr<session::ServerSession> session_;
  std::unique_ptr<net::Stream> stream_;
  wire::FrameDecoder decoder_;
  bool closed_ = false;
};

PmiServer::PmiServer(EventLoop& loop, session::JobHost& host, ServerOptions options)
    : loop_(loop),
      host_(host),
      options_(options),
      retired_(loop),
      rank_spoke_(host.info().size, false) {}

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
  Register(std::move(fd), std::move(options));
  return absl::OkStatus();
}

PmiServer::Connection* PmiServer::Register(UniqueFd fd, session::SessionOptions options) {
  const uint64_t id = next_connection_id_++;
  auto connection = std::make_unique<Connection>(*this, id, std::move(options));
  Connection* raw = connection.get();
  connections_[id] = std::move(connection);
  raw->Start(std::move(fd));
  return raw;
}

void PmiServer::Retire(uint64_t id) {
  auto node = connections_.extract(id);
  // The connection may be running one of its own handlers: destroy it later.
  if (!node.empty()) retired_.Retire(std::move(node.mapped()));
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
  net::Acceptor::Options options;
  options.description = description;
  if (fixed_rank.has_value()) {
    // Whoever connects speaks for the rank: only the job's user may.
    options.policy = net::PeerPolicy::kSameUserOrRoot;
    options.refusal_advice = "only the job's own user may speak for its rank";
  }
  ASSIGN_OR_RETURN(
      std::unique_ptr<net::Acceptor> acceptor,
      net::Acceptor::Start(loop_, std::move(listener), std::move(options),
                           [this, fixed_rank, description](net::Acceptor::Client client) {
                             if (!ReadyToServe(description)) return;
                             Accepted(std::move(client.fd), fixed_rank);
                           }));
  listeners_.push_back(std::move(acceptor));
  return absl::OkStatus();
}

bool PmiServer::ReadyToServe(const std::string& description) {
  if (!options_.before_serving) return true;
  if (absl::Status ready = options_.before_serving(); !ready.ok()) {
    log::Error(absl::StrCat("cannot serve a client on ", description, ": ", ready.message()));
    return false;
  }
  return true;
}

void PmiServer::Accepted(UniqueFd client, std::optional<int> fixed_rank) {
  session::SessionOptions options;
  options.protocols = options_.protocols;
  if (fixed_rank.has_value()) {
    options.rank = fixed_rank;
    options.peer = absl::StrCat("rank ", *fixed_rank);
    options.release_if_only_looked = true;
    Register(std::move(client), std::move(options));
    return;
  }
  const int one = 1;
  ::setsockopt(client.get(), IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  options.peer = DescribePeer(client.get());
  const uint64_t id = Register(std::move(client), std::move(options))->id();
  if (options_.identify_timeout > absl::ZeroDuration()) {
    loop_.AddTimer(options_.identify_timeout, [this, id, timeout = options_.identify_timeout] {
      auto it = connections_.find(id);
      if (it == connections_.end() || it->second->session().rank().has_value()) return;
      it->second->Fail(absl::StrCat(it->second->session().Who(),
                                    ": sent nothing that names "
                                    "its rank within ",
                                    absl::FormatDuration(timeout),
                                    "; disconnected (set PMI_ID for PMI_PORT clients)"));
    });
  }
}

void PmiServer::DrainAll() {
  std::vector<uint64_t> open;
  for (auto& [id, connection] : connections_) open.push_back(id);
  for (uint64_t id : open) {
    auto it = connections_.find(id);
    if (it != connections_.end()) it->second->ReadAvailable();
  }
}

void PmiServer::Shutdown() {
  connections_.clear();
  retired_.Clear();
  listeners_.clear();
  for (const std::string& path : unix_paths_) ::unlink(path.c_str());
  unix_paths_.clear();
}

}  // namespace pmi_shim::downstream
