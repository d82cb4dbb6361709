#include "shim-client/fake_rank_server.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "protocol/pmi/frame_decoder.h"
#include "protocol/pmi/pmi1.h"
#include "protocol/pmi/pmi2.h"

namespace pmi_shim::shim_client {

absl::StatusOr<std::unique_ptr<FakeRankServer>> FakeRankServer::Start(
    const std::string& socket_path, Options options) {
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  if (socket_path.size() >= sizeof(address.sun_path)) {
    return absl::InvalidArgumentError("socket path too long");
  }
  std::memcpy(address.sun_path, socket_path.c_str(), socket_path.size() + 1);
  UniqueFd listener(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (::bind(listener.get(), reinterpret_cast<const sockaddr*>(&address), sizeof(address)) != 0 ||
      ::listen(listener.get(), 8) != 0) {
    return absl::ErrnoToStatus(errno, absl::StrCat("bind/listen ", socket_path));
  }
  return std::unique_ptr<FakeRankServer>(new FakeRankServer(std::move(listener), options));
}

FakeRankServer::FakeRankServer(UniqueFd listener, Options options)
    : listener_(std::move(listener)), options_(std::move(options)) {
  int pipe_fds[2];
  if (::pipe2(pipe_fds, O_CLOEXEC) == 0) {
    stop_read_.Reset(pipe_fds[0]);
    stop_write_.Reset(pipe_fds[1]);
  }
  thread_ = std::thread([this] { Run(); });
}

FakeRankServer::~FakeRankServer() {
  (void)!::write(stop_write_.get(), "x", 1);
  thread_.join();
}

std::vector<std::string> FakeRankServer::commands() const {
  std::lock_guard<std::mutex> lock(mu_);
  return commands_;
}

void FakeRankServer::Run() {
  while (true) {
    pollfd fds[2] = {{listener_.get(), POLLIN, 0}, {stop_read_.get(), POLLIN, 0}};
    if (::poll(fds, 2, -1) < 0 && errno != EINTR) return;
    if (fds[1].revents) return;
    if (fds[0].revents & POLLIN) {
      UniqueFd client(::accept4(listener_.get(), nullptr, nullptr, SOCK_CLOEXEC));
      if (!client.valid()) continue;
      ++connections_;
      Serve(client.get());
    }
  }
}

void FakeRankServer::Serve(int fd) {
  wire::FrameDecoder decoder;
  while (true) {
    pollfd fds[2] = {{fd, POLLIN, 0}, {stop_read_.get(), POLLIN, 0}};
    if (::poll(fds, 2, -1) < 0 && errno != EINTR) return;
    if (fds[1].revents) return;
    char buffer[4096];
    const ssize_t n = ::read(fd, buffer, sizeof(buffer));
    if (n <= 0) return;
    decoder.Feed(absl::string_view(buffer, static_cast<size_t>(n)));
    while (true) {
      absl::StatusOr<std::optional<wire::Frame>> frame = decoder.Next();
      if (!frame.ok() || !frame->has_value()) break;
      absl::StatusOr<wire::Message> request = wire::ParseFrame(**frame);
      if (!request.ok()) return;
      {
        std::lock_guard<std::mutex> lock(mu_);
        commands_.push_back(request->command);
      }
      if (!options_.answer) continue;
      std::string reply;
      const std::string& cmd = request->command;
      if (cmd == "init") {
        const bool two = request->FindInt("pmi_version") == 2;
        wire::Message m("response_to_init");
        m.Add("rc", options_.init_rc).Add("pmi_version", two ? 2 : 1);
        m.Add("pmi_subversion", two ? 0 : options_.pmi1_subversion);
        reply = wire::FormatPmi1(m);
      } else if (cmd == "get_maxes") {
        reply = wire::FormatPmi1(wire::Message("maxes")
                                     .Add("rc", 0)
                                     .Add("kvsname_max", 256)
                                     .Add("keylen_max", 64)
                                     .Add("vallen_max", 1024));
      } else if (cmd == "get_my_kvsname") {
        reply = wire::FormatPmi1(
            wire::Message("my_kvsname").Add("rc", 0).Add("kvsname", options_.kvsname));
      } else if (cmd == "get_universe_size") {
        reply = wire::FormatPmi1(
            wire::Message("universe_size").Add("rc", 0).Add("size", options_.size));
      } else if (cmd == "get_appnum") {
        reply = wire::FormatPmi1(wire::Message("appnum").Add("rc", 0).Add("appnum", 0));
      } else if (cmd == "fullinit") {
        reply = wire::FormatPmi2(wire::Message("fullinit-response")
                                     .Add("rc", 0)
                                     .Add("pmi-version", 2)
                                     .Add("pmi-subversion", 0)
                                     .Add("rank", options_.rank)
                                     .Add("size", options_.size)
                                     .Add("appnum", 0)
                                     .Add("debugged", "FALSE")
                                     .Add("pmiverbose", "FALSE"));
      } else if (cmd == "job-getid") {
        reply = wire::FormatPmi2(
            wire::Message("job-getid-response").Add("rc", 0).Add("jobid", options_.kvsname));
      } else {
        return;  // like the bridge: an unknown command ends the connection
      }
      (void)!::send(fd, reply.data(), reply.size(), MSG_NOSIGNAL);
    }
  }
}

}  // namespace pmi_shim::shim_client
