// Two exec bridges stacked on a real PMI server, in one process.
//
// The "host server" is pmi-bridge's own downstream stack (an EmbeddedHost
// served by a PmiServer), running on its own EventLoop in a thread, exactly
// as `pmi-bridge launch` serves ranks. Each "bridge" is a PmiWireHost
// connected to it (over an inherited socketpair or over TCP with initack),
// with a ServerSession on top that plays the container's client: one bridge
// serves a PMI-1 client, the other a PMI-2 client, so every run crosses
// protocols on one side. Both bridges share the test thread's loop.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>

#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "bridge/downstream/pmi_server.h"
#include "bridge/session/server_session.h"
#include "bridge/upstream/embedded_host.h"
#include "bridge/upstream/pmi_wire_host.h"
#include "protocol/pmi/frame_decoder.h"
#include "protocol/pmi/pmi2.h"
#include "test/testing/status_matchers.h"

namespace pmi_shim::upstream {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

constexpr int kRanks = 2;

// The launcher side: EmbeddedHost + PmiServer on a loop in its own thread.
class HostServer {
 public:
  HostServer() : host_(Info(), Events()), server_(loop_, host_, {}) {}
  ~HostServer() { Stop(); }

  // A socketpair whose far end the server serves as `rank` (PMI_FD mode).
  int AddFdClient(int rank) {
    int pair[2];
    EXPECT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair), 0);
    EXPECT_OK(server_.AddConnectedClient(UniqueFd(pair[1]), rank));
    return pair[0];
  }
  int ListenTcp() {
    absl::StatusOr<int> port = server_.ListenTcp("127.0.0.1", 0);
    EXPECT_OK(port);
    return port.value_or(0);
  }
  void Start() {
    thread_ = std::thread([this] { EXPECT_OK(loop_.Run()); });
  }
  // Joins the server thread; the server's state may be read afterwards.
  void Stop() {
    if (!thread_.joinable()) return;
    loop_.Post([this] { loop_.Stop(); });
    thread_.join();
  }
  // The launcher dies: every connection closes (from the server's thread).
  void Kill() {
    loop_.Post([this] { server_.Shutdown(); });
  }

  EmbeddedHost& host() { return host_; }
  // What the job heard of aborts and lost ranks (any thread).
  std::vector<std::string> Aborts() {
    std::lock_guard<std::mutex> lock(mutex_);
    return aborts_;
  }

 private:
  static session::JobInfo Info() {
    session::JobInfo info;
    info.kvsname = "kvs_integration";
    info.size = kRanks;
    info.universe_size = kRanks;
    info.process_mapping = "(vector,(0,1,2))";
    return info;
  }
  EmbeddedHost::Events Events() {
    EmbeddedHost::Events events;
    events.abort = [this](int rank, int code, const std::string& message) {
      std::lock_guard<std::mutex> lock(mutex_);
      aborts_.push_back(absl::StrCat("rank ", rank, " code ", code, ": ", message));
    };
    events.lost = [this](int rank, const std::string& reason) {
      std::lock_guard<std::mutex> lock(mutex_);
      aborts_.push_back(absl::StrCat("lost rank ", rank, ": ", reason));
    };
    return events;
  }

  std::mutex mutex_;                 // std, not absl: ThreadSanitizer sees through it
  std::vector<std::string> aborts_;  // guarded by mutex_
  EventLoop loop_;
  EmbeddedHost host_;
  downstream::PmiServer server_;
  std::thread thread_;
};

// One exec bridge: the upstream host and a session for its client.
struct Bridge {
  std::unique_ptr<PmiWireHost> host;
  std::shared_ptr<session::ServerSession> session;
  std::vector<wire::Message> replies;  // what the client received
  std::vector<std::string> lost;       // on_upstream_lost reports
  std::vector<std::string> failures;   // session failures

  // Feeds client bytes (lines and records) to the session.
  void ClientSends(const std::string& bytes) {
    wire::FrameDecoder decoder;
    decoder.Feed(bytes);
    while (true) {
      absl::StatusOr<std::optional<wire::Frame>> frame = decoder.Next();
      ASSERT_OK(frame);
      if (!frame->has_value()) return;
      absl::Status handled = session->HandleFrame(**frame);
      if (!handled.ok()) failures.push_back(std::string(handled.message()));
    }
  }
  const wire::Message* Reply(absl::string_view command) const {
    for (const wire::Message& m : replies) {
      if (m.command == command) return &m;
    }
    return nullptr;
  }
  std::string ValueOf(absl::string_view command) const {
    const wire::Message* m = Reply(command);
    return m == nullptr ? "<no reply>" : std::string(m->Find("value").value_or("<no value>"));
  }
};

std::unique_ptr<Bridge> StartBridge(EventLoop& loop, const HostEndpoint& endpoint,
                                    WireProtocol protocol, int rank) {
  auto bridge = std::make_unique<Bridge>();
  PmiWireHost::Options options;
  options.on_upstream_lost = [b = bridge.get()](std::string reason) { b->lost.push_back(reason); };
  absl::StatusOr<std::unique_ptr<PmiWireHost>> host =
      PmiWireHost::Connect(loop, endpoint, protocol, std::move(options));
  EXPECT_OK(host);
  if (!host.ok()) return nullptr;
  bridge->host = *std::move(host);
  session::SessionCallbacks callbacks;
  callbacks.send = [](std::string) {};  // replies are read from the trace
  callbacks.trace = [b = bridge.get()](bool from_client, const wire::Message& m) {
    if (!from_client) b->replies.push_back(m);
  };
  callbacks.fail = [b = bridge.get()](absl::string_view r) {
    b->failures.push_back(std::string(r));
  };
  session::SessionOptions session_options;
  session_options.rank = rank;
  bridge->session = session::ServerSession::Create(*bridge->host, session_options, callbacks);
  return bridge;
}

bool RunUntil(EventLoop& loop, const std::function<bool()>& done) {
  const absl::Time deadline = absl::Now() + absl::Seconds(10);
  std::function<void()> check = [&] {
    if (done() || absl::Now() > deadline) {
      loop.Stop();
    } else {
      loop.AddTimer(absl::Milliseconds(1), check);
    }
  };
  loop.AddTimer(absl::ZeroDuration(), check);
  EXPECT_OK(loop.Run());
  return done();
}

// A PMI-1 client's whole life: init, put, barrier, get the peer's key.
std::string Pmi1Client(int rank, const std::string& kvsname) {
  const std::string k = absl::StrCat(" kvsname=", kvsname);
  return absl::StrCat("cmd=init pmi_version=1 pmi_subversion=1\ncmd=get_maxes\n",
                      "cmd=get_my_kvsname\ncmd=get", k, " key=PMI_process_mapping\n", "cmd=put", k,
                      " key=bc-", rank, " value=card-", rank, "\n", "cmd=barrier_in\ncmd=get", k,
                      " key=bc-", 1 - rank, "\n", "cmd=finalize\n");
}

// The same for a PMI-2 client (Slurm libpmi2 style: fullinit with all fields).
std::string Pmi2Client(int rank, const std::string& jobid) {
  std::string bytes = "cmd=init pmi_version=2 pmi_subversion=0\n";
  auto add = [&bytes](wire::Message m) { bytes += wire::FormatPmi2(m); };
  add(wire::Message("fullinit").Add("pmirank", rank).Add("threaded", "FALSE"));
  add(wire::Message("job-getid"));
  add(wire::Message("kvs-put")
          .Add("key", absl::StrCat("bc-", rank))
          .Add("value", absl::StrCat("card-", rank)));
  add(wire::Message("kvs-fence"));
  add(wire::Message("kvs-get")
          .Add("jobid", jobid)
          .Add("srcid", -1)
          .Add("key", absl::StrCat("bc-", 1 - rank)));
  add(wire::Message("info-getjobattr").Add("key", "PMI_process_mapping"));
  add(wire::Message("finalize"));
  return bytes;
}

struct Stack {
  WireProtocol upstream;
  bool tcp;  // PMI_PORT + initack/fullinit instead of PMI_FD
};

class StackedTest : public ::testing::TestWithParam<Stack> {};

TEST_P(StackedTest, PutFenceGetAcrossTwoBridges) {
  const Stack stack = GetParam();
  HostServer server;
  std::vector<HostEndpoint> endpoints(kRanks);
  const int port = stack.tcp ? server.ListenTcp() : 0;
  for (int rank = 0; rank < kRanks; ++rank) {
    HostEndpoint& e = endpoints[rank];
    e.family = HostFamily::kPmiWire;
    if (stack.tcp) {
      e.port_host = "127.0.0.1";
      e.port = port;
      e.id = rank;
    } else {
      e.fd = server.AddFdClient(rank);
      e.rank = rank;
      e.size = kRanks;
    }
  }
  server.Start();
  EventLoop loop;
  std::vector<std::unique_ptr<Bridge>> bridges;
  for (int rank = 0; rank < kRanks; ++rank) {
    bridges.push_back(StartBridge(loop, endpoints[rank], stack.upstream, rank));
    ASSERT_NE(bridges.back(), nullptr);
    EXPECT_EQ(bridges.back()->host->rank(), rank);
    EXPECT_EQ(bridges.back()->host->info().kvsname, "kvs_integration");
    EXPECT_EQ(bridges.back()->host->info().universe_size, kRanks);
  }
  // Rank 0's client speaks PMI-1, rank 1's PMI-2: each queues its whole life.
  bridges[0]->ClientSends(Pmi1Client(0, "kvs_integration"));
  bridges[1]->ClientSends(Pmi2Client(1, "kvs_integration"));
  ASSERT_TRUE(RunUntil(loop,
                       [&] {
                         return bridges[0]->Reply("finalize_ack") != nullptr &&
                                bridges[1]->Reply("finalize-response") != nullptr;
                       }))
      << "replies: " << bridges[0]->replies.size() << " / " << bridges[1]->replies.size();
  EXPECT_EQ(bridges[0]->ValueOf("get_result"), "(vector,(0,1,2))");
  EXPECT_EQ(bridges[0]->replies[bridges[0]->replies.size() - 2].Find("value"), "card-1");
  EXPECT_EQ(bridges[1]->ValueOf("kvs-get-response"), "card-0");
  EXPECT_EQ(bridges[1]->ValueOf("info-getjobattr-response"), "(vector,(0,1,2))");
  EXPECT_EQ(bridges[0]->Reply("barrier_out")->Find("rc"), "0");
  for (const auto& bridge : bridges) {
    EXPECT_THAT(bridge->failures, ::testing::IsEmpty());
    // Let the finalize reach the host server before judging it.
    ASSERT_TRUE(RunUntil(loop, [&] { return bridge->host->finalize_acknowledged(); }));
  }
  bridges.clear();  // the bridges exit after their clients finalized
  server.Stop();
  EXPECT_THAT(server.Aborts(), ::testing::IsEmpty()) << "nobody was lost";
  EXPECT_TRUE(server.host().IsFinalized(0));
  EXPECT_TRUE(server.host().IsFinalized(1));
  EXPECT_GE(server.host().barrier_epoch(), 1);
}

INSTANTIATE_TEST_SUITE_P(
    Upstreams, StackedTest,
    ::testing::Values(Stack{WireProtocol::kPmi1, false}, Stack{WireProtocol::kPmi2, false},
                      Stack{WireProtocol::kPmi1, true}, Stack{WireProtocol::kPmi2, true}),
    [](const ::testing::TestParamInfo<Stack>& info) {
      return absl::StrCat(info.param.upstream == WireProtocol::kPmi1 ? "Pmi1" : "Pmi2",
                          info.param.tcp ? "Port" : "Fd");
    });

// Two bridges whose hosts the test drives directly, over PMI_FD.
struct Pair {
  HostServer server;
  EventLoop loop;
  std::vector<std::unique_ptr<Bridge>> bridges;

  explicit Pair(WireProtocol protocol) {
    std::vector<HostEndpoint> endpoints(kRanks);
    for (int rank = 0; rank < kRanks; ++rank) {
      endpoints[rank].family = HostFamily::kPmiWire;
      endpoints[rank].fd = server.AddFdClient(rank);
      endpoints[rank].rank = rank;
      endpoints[rank].size = kRanks;
    }
    server.Start();
    for (int rank = 0; rank < kRanks; ++rank) {
      bridges.push_back(StartBridge(loop, endpoints[rank], protocol, rank));
    }
  }
  PmiWireHost& host(int rank) { return *bridges[rank]->host; }
};

TEST(StackedNodeAttrTest, Pmi2GetWithWaitIsHeldUntilTheOtherBridgePuts) {
  Pair pair(WireProtocol::kPmi2);
  ASSERT_NE(pair.bridges[1], nullptr);
  ASSERT_OK(pair.host(0).ClaimRank(0));
  ASSERT_OK(pair.host(1).ClaimRank(1));
  std::string got;
  pair.host(1).GetNodeAttr(1, "shm-name", true, [&](absl::StatusOr<std::string> v) {
    got = v.ok() ? *v : std::string(v.status().message());
  });
  // Give the waiting get time to reach the host server before the put.
  pair.loop.AddTimer(absl::Milliseconds(50), [&] {
    pair.host(0).PutNodeAttr(0, "shm-name", "/dev/shm/seg7", [](absl::Status) {});
  });
  ASSERT_TRUE(RunUntil(pair.loop, [&] { return !got.empty(); }));
  EXPECT_EQ(got, "/dev/shm/seg7");
}

TEST(StackedFailureTest, ClientDeathAbortsTheJobUpstream) {
  Pair pair(WireProtocol::kPmi1);
  ASSERT_NE(pair.bridges[1], nullptr);
  pair.bridges[1]->ClientSends("cmd=init pmi_version=1 pmi_subversion=1\n");
  // The container's process died before finalize.
  EXPECT_TRUE(
      pair.bridges[1]->session->Close("rank 1: closed its PMI connection without finalize"));
  // The abort is written at once; wait for the host server to act on it.
  const absl::Time deadline = absl::Now() + absl::Seconds(5);
  while (pair.server.Aborts().empty() && absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(2));
  }
  EXPECT_THAT(pair.server.Aborts(),
              ElementsAre("rank 1 code 1: rank 1: closed its PMI connection without finalize"));
}

TEST(StackedFailureTest, LauncherDeathDuringABarrierReachesTheClientAndTheOwner) {
  Pair pair(WireProtocol::kPmi1);
  ASSERT_NE(pair.bridges[0], nullptr);
  pair.bridges[0]->ClientSends("cmd=init pmi_version=1 pmi_subversion=1\ncmd=barrier_in\n");
  RunUntil(pair.loop, [] { return true; });  // the barrier_in goes upstream
  pair.server.Kill();
  ASSERT_TRUE(RunUntil(pair.loop, [&] { return !pair.bridges[0]->lost.empty(); }));
  EXPECT_THAT(pair.bridges[0]->lost,
              ElementsAre(HasSubstr("closed the connection while rank 0 waited for barrier_out")));
  ASSERT_NE(pair.bridges[0]->Reply("barrier_out"), nullptr);
  EXPECT_EQ(pair.bridges[0]->Reply("barrier_out")->Find("rc"), "-1");
}

}  // namespace
}  // namespace pmi_shim::upstream
