// PmixV1Server with real OpenPMIx 1.2.5 clients (one server per rank over
// one embedded host, as `pmi-bridge exec` runs one bridge per rank) and
// with scripted clients that misbehave.
#include "bridge/downstream/pmix_v1_server.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <map>
#include <sstream>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "bridge/upstream/embedded_host.h"
#include "common/event_loop.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "protocol/pmix_v1/header.h"
#include "protocol/pmix_v1/messages.h"
#include "test/testing/runfiles.h"

extern char** environ;

namespace pmi_shim::downstream {
namespace {

namespace v1 = protocol::pmix_v1;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

TEST(NodesFromMappingTest, ReadsBlocksAndRepeats) {
  EXPECT_THAT(pmix_v1_internal::NodesFromMapping("(vector,(0,2,2))", 4).value(),
              ElementsAre(0, 0, 1, 1));
  EXPECT_THAT(pmix_v1_internal::NodesFromMapping("(vector,(0,1,3))", 3).value(),
              ElementsAre(0, 0, 0));
  // Round robin: one block of two nodes with one rank each, repeated.
  EXPECT_THAT(pmix_v1_internal::NodesFromMapping("(vector,(0,2,1))", 4).value(),
              ElementsAre(0, 1, 0, 1));
  EXPECT_THAT(pmix_v1_internal::NodesFromMapping("(vector,(5,1,1),(2,1,1))", 2).value(),
              ElementsAre(0, 1));
  EXPECT_FALSE(pmix_v1_internal::NodesFromMapping("garbage", 2).ok());
}

TEST(ContributionTest, RoundTrips) {
  std::string blob = pmix_v1_internal::EncodeContribution({3, "LOCAL", "REMOTE"}) +
                     pmix_v1_internal::EncodeContribution({1, "", "R"});
  absl::StatusOr<std::vector<pmix_v1_internal::Contribution>> all =
      pmix_v1_internal::DecodeContributions(blob);
  ASSERT_TRUE(all.ok()) << all.status();
  ASSERT_EQ(all->size(), 2u);
  EXPECT_EQ((*all)[0].rank, 3);
  EXPECT_EQ((*all)[0].local, "LOCAL");
  EXPECT_EQ((*all)[1].remote, "R");
  EXPECT_FALSE(pmix_v1_internal::DecodeContributions(blob.substr(0, blob.size() - 1)).ok());
}

// A job of `size` ranks on an embedded host, one PmixV1Server per rank.
struct Job {
  EventLoop loop;
  std::vector<std::string> lost;
  std::vector<std::string> aborts;
  std::unique_ptr<upstream::EmbeddedHost> host;
  std::vector<std::unique_ptr<PmixV1Server>> servers;

  explicit Job(int size, std::optional<std::string> mapping = "(vector,(0,1,SIZE))") {
    session::JobInfo info;
    info.kvsname = "v1-test-job";
    info.size = size;
    info.universe_size = size;
    if (mapping.has_value()) {
      info.process_mapping = absl::StrReplaceAll(*mapping, {{"SIZE", absl::StrCat(size)}});
    }
    host = std::make_unique<upstream::EmbeddedHost>(
        info, upstream::EmbeddedHost::Events{
                  [this](int rank, int code, const std::string& message) {
                    aborts.push_back(absl::StrCat(rank, ":", code, ":", message));
                  },
                  [this](int, const std::string& reason) { lost.push_back(reason); }});
    for (int rank = 0; rank < size; ++rank) {
      PmixV1Server::Options options;
      options.rank = rank;
      options.trace = true;
      absl::StatusOr<std::unique_ptr<PmixV1Server>> server =
          PmixV1Server::Start(loop, *host, options);
      EXPECT_TRUE(server.ok()) << server.status();
      if (server.ok()) servers.push_back(std::move(*server));
    }
  }

  // Runs the loop until `done` or `limit`.
  void RunUntil(std::function<bool()> done, absl::Duration limit = absl::Seconds(20)) {
    const absl::Time deadline = absl::Now() + limit;
    std::function<void()> check = [&] {
      if (done() || absl::Now() > deadline) {
        loop.Stop();
        return;
      }
      loop.AddTimer(absl::Milliseconds(5), check);
    };
    loop.AddTimer(absl::Milliseconds(1), check);
    ASSERT_TRUE(loop.Run().ok());
  }
};

struct Child {
  pid_t pid = -1;
  std::string output_path;
  std::optional<int> status;
};

Child Spawn(const std::vector<std::string>& argv, const std::vector<std::string>& extra_env,
            const std::string& output_path) {
  std::vector<std::string> env;
  for (char** e = environ; *e != nullptr; ++e) {
    if (!absl::StartsWith(*e, "PMIX_")) env.emplace_back(*e);
  }
  for (const std::string& e : extra_env) env.push_back(e);
  Child child;
  child.output_path = output_path;
  child.pid = ::fork();
  if (child.pid == 0) {
    const int fd = ::open(output_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    ::dup2(fd, 1);
    ::dup2(fd, 2);
    std::vector<char*> args, envp;
    for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    for (const std::string& e : env) envp.push_back(const_cast<char*>(e.c_str()));
    envp.push_back(nullptr);
    ::execve(args[0], args.data(), envp.data());
    ::_exit(127);
  }
  return child;
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

std::string TmpDir() {
  const char* dir = std::getenv("TEST_TMPDIR");
  return dir != nullptr ? dir : "/tmp";
}

class RealClientTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<std::string> client = testutil::Runfile("test/programs/bin/pmix_v1_client");
    if (!client.ok() || ::access("/opt/pmi-shim-peers/openpmix-1.2.5/lib/libpmix.so", R_OK) != 0) {
      GTEST_SKIP() << "the lab's OpenPMIx 1.2.5 is not installed";
    }
    client_ = *client;
  }

  // Runs one client per rank of `job` with `args`; returns their outputs.
  std::vector<Child> RunClients(Job& job, const std::vector<std::string>& args) {
    std::vector<Child> children;
    for (size_t rank = 0; rank < job.servers.size(); ++rank) {
      std::vector<std::string> argv = {client_};
      argv.insert(argv.end(), args.begin(), args.end());
      children.push_back(Spawn(argv, job.servers[rank]->ClientEnvironment(),
                               absl::StrCat(TmpDir(), "/client.", rank, ".out")));
    }
    job.RunUntil([&] {
      bool all = true;
      for (size_t rank = 0; rank < children.size(); ++rank) {
        Child& c = children[rank];
        if (!c.status.has_value()) {
          int status = 0;
          if (::waitpid(c.pid, &status, WNOHANG) == c.pid) {
            c.status = status;
            if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
              job.servers[rank]->RankExited(absl::StrCat("exited with status ", status));
            }
          } else {
            all = false;
          }
        }
      }
      return all;
    });
    for (Child& c : children) {
      if (!c.status.has_value()) {
        ::kill(c.pid, SIGKILL);
        int status = 0;
        ::waitpid(c.pid, &status, 0);
      }
    }
    return children;
  }

  std::string client_;
};

TEST_F(RealClientTest, FourRanksPutFenceAndGetEveryKey) {
  Job job(4);
  ASSERT_EQ(job.servers.size(), 4u);
  std::vector<Child> children = RunClients(job, {"--keys", "5"});
  for (size_t rank = 0; rank < children.size(); ++rank) {
    const std::string out = ReadFile(children[rank].output_path);
    ASSERT_TRUE(children[rank].status.has_value()) << "rank " << rank << " hung: " << out;
    EXPECT_EQ(*children[rank].status, 0) << out;
    EXPECT_THAT(out, HasSubstr(absl::StrCat("OK rank ", rank, " size 4 peers 0,1,2,3 host ")));
    EXPECT_THAT(out, HasSubstr("keys 20"));
    EXPECT_TRUE(job.servers[rank]->Finalized());
  }
  EXPECT_TRUE(job.lost.empty());
  for (int rank = 0; rank < 4; ++rank) EXPECT_TRUE(job.host->IsFinalized(rank));
}

TEST_F(RealClientTest, DirectGetsWithoutCollection) {
  Job job(3);
  std::vector<Child> children = RunClients(job, {"--no-collect", "--keys", "2"});
  for (size_t rank = 0; rank < children.size(); ++rank) {
    const std::string out = ReadFile(children[rank].output_path);
    EXPECT_EQ(children[rank].status.value_or(-1), 0) << out;
    EXPECT_THAT(out, HasSubstr(absl::StrCat("OK rank ", rank, " size 3")));
  }
}

TEST_F(RealClientTest, TwoNodesSeeTheirOwnLocalPeers) {
  // Ranks 0,1 on one node and 2,3 on another: both "nodes" are this
  // machine, so both publish the same host name, but locality follows the
  // host's mapping.
  Job job(4, "(vector,(0,2,2))");
  std::vector<Child> children = RunClients(job, {});
  for (size_t rank = 0; rank < children.size(); ++rank) {
    const std::string out = ReadFile(children[rank].output_path);
    EXPECT_EQ(children[rank].status.value_or(-1), 0) << out;
    EXPECT_THAT(out, HasSubstr(rank < 2 ? "peers 0,1 " : "peers 2,3 "));
  }
}

TEST_F(RealClientTest, WithoutAMappingTheHostNamesGiveTheLayout) {
  Job job(2, std::nullopt);
  std::vector<Child> children = RunClients(job, {});
  for (size_t rank = 0; rank < children.size(); ++rank) {
    const std::string out = ReadFile(children[rank].output_path);
    EXPECT_EQ(children[rank].status.value_or(-1), 0) << out;
    EXPECT_THAT(out, HasSubstr("peers 0,1 "));
  }
}

TEST_F(RealClientTest, AbortCarriesCodeAndMessage) {
  Job job(2);
  std::vector<Child> children;
  // Rank 1 aborts; the embedded host only records it, so stop at the abort
  // and end the clients ourselves.
  for (size_t rank = 0; rank < 2; ++rank) {
    children.push_back(Spawn({client_, "--abort", "7"}, job.servers[rank]->ClientEnvironment(),
                             absl::StrCat(TmpDir(), "/abort.", rank, ".out")));
  }
  job.RunUntil([&] { return !job.aborts.empty(); });
  for (Child& c : children) {
    ::kill(c.pid, SIGKILL);
    ::waitpid(c.pid, nullptr, 0);
  }
  EXPECT_THAT(job.aborts, ElementsAre("1:7:pmix v1 abort test"));
}

// ---- scripted clients -------------------------------------------------------------

// A raw connection to a server's socket.
struct RawClient {
  int fd = -1;
  explicit RawClient(const std::string& path) {
    fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_un addr = {};
    addr.sun_family = AF_UNIX;
    std::snprintf(addr.sun_path, sizeof(addr.sun_path), "%s", path.c_str());
    EXPECT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  }
  ~RawClient() {
    if (fd >= 0) ::close(fd);
  }
  void Send(const std::string& bytes) {
    ASSERT_EQ(::write(fd, bytes.data(), bytes.size()), (ssize_t)bytes.size());
  }
  // Whatever has arrived (non-blocking).
  std::string Received() {
    std::string out;
    char buffer[4096];
    ssize_t n;
    while ((n = ::recv(fd, buffer, sizeof(buffer), MSG_DONTWAIT)) > 0) out.append(buffer, n);
    return out;
  }
  void Close() {
    ::close(fd);
    fd = -1;
  }
};

std::string Connect(const std::string& nspace, int rank) {
  v1::ConnectRequest request;
  request.nspace = nspace;
  request.rank = rank;
  request.version = "1.2.5rc3";
  request.security = "native";
  request.bfrops = "v12";
  request.buffer_type = 1;
  request.gds = "ds12";
  return v1::EncodeConnectRequest(request);
}

TEST(ScriptedClientTest, AClaimForAnotherRankIsRefused) {
  Job job(2);
  RawClient client(job.servers[0]->socket_path());
  client.Send(Connect(job.servers[0]->nspace(), 1));
  std::string reply;
  job.RunUntil([&] {
    reply += client.Received();
    return reply.size() >= 4;
  });
  ASSERT_EQ(reply.size(), 4u);
  EXPECT_EQ(static_cast<int32_t>(v1::ReadLittleEndian32(reply.data())), v1::kErrInvalidNamespace);
  EXPECT_FALSE(job.servers[0]->Connected());
  EXPECT_TRUE(job.lost.empty());
}

TEST(ScriptedClientTest, AnOversizedHeaderEndsTheRank) {
  Job job(2);
  RawClient client(job.servers[1]->socket_path());
  client.Send(Connect(job.servers[1]->nspace(), 1));
  job.RunUntil([&] { return job.servers[1]->Connected(); });
  client.Send(v1::EncodeHeader(v1::Header{0, 3, 1ull << 40}));
  job.RunUntil([&] { return !job.lost.empty(); });
  ASSERT_EQ(job.lost.size(), 1u);
  EXPECT_THAT(job.lost[0], HasSubstr("rank 1: PMIx v1 protocol error"));
  EXPECT_THAT(job.lost[0], HasSubstr("limit"));
}

TEST(ScriptedClientTest, AnUnknownCommandIsAnsweredWithAnError) {
  Job job(1);
  RawClient client(job.servers[0]->socket_path());
  client.Send(Connect(job.servers[0]->nspace(), 0));
  job.RunUntil([&] { return job.servers[0]->Connected(); });
  client.Received();
  v1::Packer unknown;
  unknown.PackUint32(42);
  client.Send(v1::EncodeMessage(0, 9, unknown.bytes()));
  std::string reply;
  job.RunUntil([&] {
    reply += client.Received();
    return reply.size() >= v1::kHeaderBytes + 12;
  });
  ASSERT_GE(reply.size(), v1::kHeaderBytes);
  EXPECT_EQ(v1::DecodeHeader(reply, 1 << 20)->tag, 9u);
  EXPECT_EQ(v1::DecodeStatusReply(reply.substr(v1::kHeaderBytes)).value(), v1::kErrNotSupported);
  EXPECT_TRUE(job.lost.empty());
}

TEST(ScriptedClientTest, ADisconnectMidFenceIsReportedLost) {
  Job job(2);
  RawClient client(job.servers[0]->socket_path());
  client.Send(Connect(job.servers[0]->nspace(), 0));
  job.RunUntil([&] { return job.servers[0]->Connected(); });
  v1::FenceRequest fence;
  fence.procs = {{job.servers[0]->nspace(), v1::kRankWildcard}};
  fence.collect = true;
  client.Send(v1::EncodeMessage(0, 2, v1::EncodeFence(fence)));
  job.RunUntil([&] { return job.host->ranks_in_barrier() > 0; });
  client.Close();
  job.RunUntil([&] { return !job.lost.empty(); });
  ASSERT_EQ(job.lost.size(), 1u);
  EXPECT_THAT(job.lost[0], HasSubstr("rank 0: the PMIx v1 client closed its connection before "
                                     "PMIx_Finalize"));
}

TEST(ScriptedClientTest, ASecondConnectionIsRefused) {
  Job job(1);
  RawClient first(job.servers[0]->socket_path());
  first.Send(Connect(job.servers[0]->nspace(), 0));
  job.RunUntil([&] { return job.servers[0]->Connected(); });
  RawClient second(job.servers[0]->socket_path());
  second.Send(Connect(job.servers[0]->nspace(), 0));
  job.RunUntil([] { return false; }, absl::Milliseconds(100));
  EXPECT_EQ(second.Received(), "");
  EXPECT_TRUE(job.lost.empty());
}

}  // namespace
}  // namespace pmi_shim::downstream
