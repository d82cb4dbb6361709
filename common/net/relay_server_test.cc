// RelayServer with a test connector that hands the test the target's end of
// a socketpair: each client gets its own relay, a failed connect closes the
// client, the client's credentials reach the per-relay options, and ended
// relays are freed.
#include "common/net/relay_server.h"

#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/net/connector.h"
#include "common/net/net_test_util.h"
#include "common/sockets.h"
#include "test/testing/status_matchers.h"

namespace pmi_shim::net {
namespace {

using testing::ReadNow;
using testing::RunUntil;
using testing::SocketPair;
using testing::WriteNow;

// Targets made on demand: the relay gets one end, the test keeps the other.
struct Targets {
  std::vector<UniqueFd> far_ends;
  bool refuse = false;
  Connector connector() {
    Connector connector;
    connector.description = "the test target";
    connector.connect = [this]() -> absl::StatusOr<UniqueFd> {
      if (refuse) return absl::UnavailableError("connection refused");
      auto [near, far] = SocketPair();
      far_ends.push_back(std::move(far));
      return std::move(near);
    };
    return connector;
  }
};

TEST(RelayServerTest, EachClientGetsItsOwnRelayAndEndedRelaysAreFreed) {
  EventLoop loop;
  Targets targets;
  absl::StatusOr<TcpListener> listener = ListenTcp4("127.0.0.1", 0);
  ASSERT_OK(listener);
  RelayServer::Options options;
  options.connector = targets.connector();
  std::vector<absl::Status> outcomes;
  options.on_relay_done = [&](const absl::Status& outcome) { outcomes.push_back(outcome); };
  absl::StatusOr<std::unique_ptr<RelayServer>> server =
      RelayServer::Start(loop, std::move(listener->fd), options);
  ASSERT_OK(server);
  std::vector<UniqueFd> clients;
  for (int i = 0; i < 2; ++i) {
    absl::StatusOr<UniqueFd> fd = StartConnectTcp4("127.0.0.1", listener->port);
    ASSERT_OK(fd);
    clients.push_back(*std::move(fd));
  }
  ASSERT_TRUE(RunUntil(loop, [&] { return targets.far_ends.size() == 2; }));
  EXPECT_EQ((*server)->open_relays(), 2u);
  // Each pair carries its own bytes (the order of accepts is the kernel's).
  WriteNow(clients[0].get(), "zero");
  WriteNow(clients[1].get(), "one");
  std::string at[2];
  ASSERT_TRUE(RunUntil(loop, [&] {
    for (int i = 0; i < 2; ++i) at[i] += ReadNow(targets.far_ends[i].get());
    return at[0].size() + at[1].size() == 7;
  }));
  EXPECT_TRUE((at[0] == "zero" && at[1] == "one") || (at[0] == "one" && at[1] == "zero"));
  for (int i = 0; i < 2; ++i) {
    ::shutdown(clients[i].get(), SHUT_WR);
    ::shutdown(targets.far_ends[i].get(), SHUT_WR);
  }
  ASSERT_TRUE(RunUntil(loop, [&] { return outcomes.size() == 2; }));
  EXPECT_OK(outcomes[0]);
  EXPECT_OK(outcomes[1]);
  EXPECT_EQ((*server)->open_relays(), 0u);
  EXPECT_EQ((*server)->total_relays(), 2u);
}

TEST(RelayServerTest, AClientWhoseTargetCannotBeReachedIsClosed) {
  EventLoop loop;
  Targets targets;
  targets.refuse = true;
  absl::StatusOr<TcpListener> listener = ListenTcp4("127.0.0.1", 0);
  ASSERT_OK(listener);
  RelayServer::Options options;
  options.connector = targets.connector();
  std::vector<absl::Status> outcomes;
  options.on_relay_done = [&](const absl::Status& outcome) { outcomes.push_back(outcome); };
  absl::StatusOr<std::unique_ptr<RelayServer>> server =
      RelayServer::Start(loop, std::move(listener->fd), options);
  ASSERT_OK(server);
  absl::StatusOr<UniqueFd> client = StartConnectTcp4("127.0.0.1", listener->port);
  ASSERT_OK(client);
  ASSERT_TRUE(RunUntil(loop, [&] { return !outcomes.empty(); }));
  EXPECT_EQ(outcomes[0].message(), "cannot reach the test target: connection refused");
  bool eof = false;
  ASSERT_TRUE(RunUntil(loop, [&] {
    ReadNow(client->get(), &eof);
    return eof;
  }));
  EXPECT_EQ((*server)->total_relays(), 0u);
}

TEST(RelayServerTest, RelayOptionsSeeTheClientsCredentialsOnAUnixListener) {
  char dir[] = "/tmp/relay-server-test-XXXXXX";
  ASSERT_NE(::mkdtemp(dir), nullptr);
  const std::string path = absl::StrCat(dir, "/pmix.sock");
  EventLoop loop;
  Targets targets;
  absl::StatusOr<UniqueFd> listener = ListenUnix(path);
  ASSERT_OK(listener);
  RelayServer::Options options;
  options.connector = targets.connector();
  options.peer_policy = PeerPolicy::kSameUserOrRoot;
  options.description = path;
  std::optional<ucred> seen;
  options.relay_options = [&](const Acceptor::Client& client) {
    seen = client.credentials;
    ByteRelay::Options relay;
    relay.tap.on_bytes = [](Direction, absl::string_view) {};
    return relay;
  };
  absl::StatusOr<std::unique_ptr<RelayServer>> server =
      RelayServer::Start(loop, *std::move(listener), options);
  ASSERT_OK(server);
  absl::StatusOr<UniqueFd> client = ConnectUnix(path);
  ASSERT_OK(client);
  ASSERT_TRUE(RunUntil(loop, [&] { return seen.has_value(); }));
  EXPECT_EQ(seen->uid, ::getuid());
  EXPECT_EQ(seen->pid, ::getpid());
  ::unlink(path.c_str());
  ::rmdir(dir);
}

}  // namespace
}  // namespace pmi_shim::net
