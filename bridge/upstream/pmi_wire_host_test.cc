// PmiWireHost against scripted host servers: each dialect's replies as the
// real servers write them (hydra 4.0.2 as captured from mpiexec.hydra on
// this machine, Slurm 22.05, hydra 4.1+, Flux), the PMI_PORT initack
// handshake over TCP, FIFO ordering, losing the host mid-barrier, protocol
// violations, and the abort wire format. The server end runs in a thread on
// blocking sockets; the host runs on the test's EventLoop.
#include "bridge/upstream/pmi_wire_host.h"

#include <arpa/inet.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "test/testing/status_matchers.h"

namespace pmi_shim::upstream {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

// ------------------------------------------------------------ helpers --

// The host server's end of the connection, driven by a test script.
class Peer {
 public:
  explicit Peer(int fd) : fd_(fd) {}

  // One line without its '\n', or "<EOF>" (also after 10 s of silence).
  std::string ReadLine() {
    while (buffer_.find('\n') == std::string::npos) {
      if (!Fill()) return "<EOF>";
    }
    const size_t end = buffer_.find('\n');
    std::string line = buffer_.substr(0, end);
    buffer_.erase(0, end + 1);
    return line;
  }
  // One PMI-2 record's payload, or "<EOF>".
  std::string ReadRecord() {
    while (buffer_.size() < 6) {
      if (!Fill()) return "<EOF>";
    }
    const size_t length = std::stoul(buffer_.substr(0, 6));
    while (buffer_.size() < 6 + length) {
      if (!Fill()) return "<EOF>";
    }
    std::string payload = buffer_.substr(6, length);
    buffer_.erase(0, 6 + length);
    return payload;
  }
  // True when nothing more arrives within `wait` (the client is waiting).
  bool Quiet(absl::Duration wait = absl::Milliseconds(30)) {
    if (!buffer_.empty()) return false;
    pollfd p{fd_, POLLIN, 0};
    return ::poll(&p, 1, static_cast<int>(absl::ToInt64Milliseconds(wait))) == 0;
  }
  void Send(const std::string& bytes) {
    (void)!::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
  }
  void SendLine(const std::string& line) { Send(line + "\n"); }
  void SendRecord(const std::string& payload, bool left_aligned) {
    Send(absl::StrFormat(left_aligned ? "%-6d%s" : "%6d%s", payload.size(), payload));
  }
  void Close() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }

 private:
  bool Fill() {
    pollfd p{fd_, POLLIN, 0};
    if (::poll(&p, 1, 10000) <= 0) return false;
    char chunk[4096];
    const ssize_t n = ::recv(fd_, chunk, sizeof(chunk), 0);
    if (n <= 0) return false;
    buffer_.append(chunk, static_cast<size_t>(n));
    return true;
  }

  int fd_;
  std::string buffer_;
};

// Runs `script` as the host server on one end of a socketpair; the other
// end is the PMI_FD the host under test takes over.
class ScriptedServer {
 public:
  explicit ScriptedServer(std::function<void(Peer&)> script) {
    int pair[2];
    EXPECT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair), 0);
    client_fd_ = pair[0];
    thread_ = std::thread([script = std::move(script), fd = pair[1]] {
      Peer peer(fd);
      script(peer);
      peer.Close();
    });
  }
  ~ScriptedServer() { Join(); }

  int client_fd() const { return client_fd_; }
  // Waits for the script to end; what it recorded may be read afterwards.
  void Join() {
    if (thread_.joinable()) thread_.join();
  }

 private:
  int client_fd_ = -1;
  std::thread thread_;
};

HostEndpoint FdEndpoint(int fd, int rank = 1, int size = 2) {
  HostEndpoint endpoint;
  endpoint.family = HostFamily::kPmiWire;
  endpoint.fd = fd;
  endpoint.rank = rank;
  endpoint.size = size;
  return endpoint;
}

// Runs the loop until `done` holds (or 10 s pass); returns `done()`.
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

void RunFor(EventLoop& loop, absl::Duration duration) {
  loop.AddTimer(duration, [&] { loop.Stop(); });
  EXPECT_OK(loop.Run());
}

// Records what the host reported to its owner.
struct Owner {
  std::vector<std::string> lost;
  int finalized = 0;

  PmiWireHost::Options Options() {
    PmiWireHost::Options options;
    options.handshake_timeout = absl::Seconds(5);
    options.on_upstream_lost = [this](std::string reason) { lost.push_back(std::move(reason)); };
    options.on_finalized = [this] { ++finalized; };
    return options;
  }
};

std::string Describe(const absl::Status& status) {
  return status.ok()
             ? "OK"
             : absl::StrCat(absl::StatusCodeToString(status.code()), ": ", status.message());
}
std::string Describe(const absl::StatusOr<std::string>& value) {
  return value.ok() ? absl::StrCat("value ", *value) : Describe(value.status());
}

// --------------------------------------------------------- PMI-1 dialects --

struct Pmi1Dialect {
  const char* name;
  const char* kvsname;
  std::vector<std::string> handshake_replies;  // init, maxes, appnum, universe, kvsname, mapping
  const char* put_result;
  const char* get_found;  // for key bc-0, value 0a0b
  const char* get_not_found;
  const char* barrier_out;
  const char* finalize_ack;
  int appnum;
  int universe_size;
  int kvsname_max;
  const char* pmi_jobid;  // PMI_JOBID in the environment (Slurm only)
};

const Pmi1Dialect kPmi1Dialects[] = {
    {"Hydra402",  // captured from mpiexec.hydra 4.0.2 on this machine
     "kvs_5510_0_955639462_vm",
     {"cmd=response_to_init pmi_version=1 pmi_subversion=1 rc=0",
      "cmd=maxes kvsname_max=256 keylen_max=64 vallen_max=1024", "cmd=appnum appnum=0",
      "cmd=universe_size size=-1", "cmd=my_kvsname kvsname=kvs_5510_0_955639462_vm",
      "cmd=get_result rc=0 msg=success value=(vector,(0,1,2))"},
     "cmd=put_result rc=0 msg=success",
     "cmd=get_result rc=0 msg=success value=0a0b",
     "cmd=get_result rc=-1 msg=key_nosuch_not_found value=unknown",
     "cmd=barrier_out",
     "cmd=finalize_ack",
     0,
     -1,
     256,
     nullptr},
    {"Slurm",  // Slurm 22.05 mpi/pmi2 serving a PMI-1 client (reference/slurm.md)
     "2.0",
     {"cmd=response_to_init rc=0 pmi_version=1 pmi_subversion=1",
      "cmd=maxes rc=0 kvsname_max=256 keylen_max=64 vallen_max=1024", "cmd=appnum rc=0 appnum=-1",
      "cmd=universe_size rc=0 size=2", "cmd=my_kvsname rc=0 kvsname=2.0",
      "cmd=get_result rc=0 value=(vector,(0,1,2))"},
     "cmd=put_result rc=0",
     "cmd=get_result rc=0 value=0a0b",
     "cmd=get_result rc=1",
     "cmd=barrier_out rc=0",
     "cmd=finalize_ack rc=0",
     -1,
     2,
     256,
     "2.0"},
    {"Hydra41",  // found=TRUE trailers, PMI 1.2 answered
     "kvs_1",
     {"cmd=response_to_init rc=0 pmi_version=1 pmi_subversion=2",
      "cmd=maxes rc=0 kvsname_max=256 keylen_max=64 vallen_max=1024", "cmd=appnum rc=0 appnum=0",
      "cmd=universe_size rc=0 size=2", "cmd=my_kvsname rc=0 kvsname=kvs_1",
      "cmd=get_result rc=0 value=(vector,(0,1,2)) found=TRUE"},
     "cmd=put_result rc=0",
     "cmd=get_result rc=0 value=0a0b found=TRUE",
     "cmd=get_result rc=1",
     "cmd=barrier_out",
     "cmd=finalize_ack rc=0",
     0,
     2,
     256,
     nullptr},
    {"HydraMain",  // barrier_out tag=0, found=FALSE
     "kvs_1",
     {"cmd=response_to_init rc=0 pmi_version=1 pmi_subversion=2",
      "cmd=maxes rc=0 kvsname_max=256 keylen_max=64 vallen_max=1024", "cmd=appnum rc=0 appnum=0",
      "cmd=universe_size rc=0 size=2", "cmd=my_kvsname rc=0 kvsname=kvs_1",
      "cmd=get_result rc=0 value=(vector,(0,1,2))"},
     "cmd=put_result rc=0",
     "cmd=get_result rc=0 value=0a0b",
     "cmd=get_result rc=0 found=FALSE value=",
     "cmd=barrier_out tag=0",
     "cmd=finalize_ack rc=0",
     0,
     2,
     256,
     nullptr},
    {"Flux",  // F58 job id as kvsname, rc=4 not-found, 64-byte kvsname_max
     "\xc6\x92"
     "2Ux5",
     {"cmd=response_to_init rc=0 pmi_version=1 pmi_subversion=1",
      "cmd=maxes rc=0 kvsname_max=64 keylen_max=64 vallen_max=1024", "cmd=appnum rc=0 appnum=0",
      "cmd=universe_size rc=0 size=2",
      "cmd=my_kvsname rc=0 kvsname=\xc6\x92"
      "2Ux5",
      "cmd=get_result rc=0 value=(vector,(0,1,2))"},
     "cmd=put_result rc=0",
     "cmd=get_result rc=0 value=0a0b",
     "cmd=get_result rc=4",
     "cmd=barrier_out rc=0",
     "cmd=finalize_ack rc=0",
     0,
     2,
     64,
     nullptr},
};

class Pmi1DialectTest : public ::testing::TestWithParam<Pmi1Dialect> {};

// Serves the PMI-1 handshake of `d`; returns the requests it read.
std::vector<std::string> ServePmi1Handshake(Peer& peer, const Pmi1Dialect& d) {
  std::vector<std::string> requests;
  for (const std::string& reply : d.handshake_replies) {
    requests.push_back(peer.ReadLine());
    peer.SendLine(reply);
  }
  return requests;
}

TEST_P(Pmi1DialectTest, HandshakeAndOperationsInOrder) {
  const Pmi1Dialect& d = GetParam();
  std::vector<std::string> handshake, requests;
  bool one_at_a_time = true;
  std::atomic<bool> closed{false};
  ScriptedServer server([&](Peer& peer) {
    handshake = ServePmi1Handshake(peer, d);
    for (const char* reply :
         {d.put_result, d.get_found, d.get_not_found, d.barrier_out, d.finalize_ack}) {
      requests.push_back(peer.ReadLine());
      one_at_a_time = one_at_a_time && peer.Quiet();  // nothing else until answered
      peer.SendLine(reply);
    }
    peer.Close();
    closed = true;
  });
  EventLoop loop;
  Owner owner;
  HostEndpoint endpoint = FdEndpoint(server.client_fd());
  if (d.pmi_jobid != nullptr) endpoint.jobid = d.pmi_jobid;
  absl::StatusOr<std::unique_ptr<PmiWireHost>> host =
      PmiWireHost::Connect(loop, endpoint, WireProtocol::kPmi1, owner.Options());
  ASSERT_OK(host);
  const session::JobInfo& info = (*host)->info();
  EXPECT_EQ(info.kvsname, d.kvsname);
  EXPECT_EQ(info.size, 2);
  EXPECT_EQ((*host)->rank(), 1);
  EXPECT_EQ(info.appnum, d.appnum);
  EXPECT_EQ(info.universe_size, d.universe_size);
  EXPECT_EQ(info.process_mapping, "(vector,(0,1,2))");
  EXPECT_EQ(info.limits.kvsname_max, d.kvsname_max);
  EXPECT_EQ(info.limits.keylen_max, 64);
  // At Slurm every put must fit its single 1024-byte read; elsewhere a full
  // 1024-byte value goes.
  EXPECT_EQ(info.limits.vallen_max,
            d.pmi_jobid != nullptr ? 1023 - 29 - static_cast<int>(info.kvsname.size()) - 64 : 1024);

  // Queued back to back: the FIFO sends each after the previous answer.
  std::vector<std::string> results;
  auto record = [&](const std::string& what) {
    return [&results, what](absl::Status s) { results.push_back(what + " " + Describe(s)); };
  };
  ASSERT_OK((*host)->ClaimRank(1));
  (*host)->Put(1, "bc-1", "1a1b", record("put"));
  (*host)->Get(1, "bc-0",
               [&](absl::StatusOr<std::string> v) { results.push_back("get " + Describe(v)); });
  (*host)->Get(1, "nosuch", [&](absl::StatusOr<std::string> v) {
    results.push_back(absl::StrCat("get ", absl::StatusCodeToString(v.status().code())));
  });
  (*host)->Barrier(1, record("barrier"));
  (*host)->Finalized(1);
  ASSERT_TRUE(RunUntil(loop, [&] { return owner.finalized == 1; }));
  EXPECT_THAT(results, ElementsAre("put OK", "get value 0a0b", "get NOT_FOUND", "barrier OK"));
  // Hosts close the connection after finalize: expected, so no loss.
  ASSERT_TRUE(RunUntil(loop, [&] { return closed.load(); }));
  RunFor(loop, absl::Milliseconds(20));
  EXPECT_TRUE(owner.lost.empty()) << owner.lost[0];
  EXPECT_TRUE(one_at_a_time);
  const std::string k = d.kvsname;
  EXPECT_THAT(handshake,
              ElementsAre("cmd=init pmi_version=1 pmi_subversion=1", "cmd=get_maxes",
                          "cmd=get_appnum", "cmd=get_universe_size", "cmd=get_my_kvsname",
                          "cmd=get kvsname=" + k + " key=PMI_process_mapping"));
  EXPECT_THAT(requests, ElementsAre("cmd=put kvsname=" + k + " key=bc-1 value=1a1b",
                                    "cmd=get kvsname=" + k + " key=bc-0",
                                    "cmd=get kvsname=" + k + " key=nosuch", "cmd=barrier_in",
                                    "cmd=finalize"));
}

INSTANTIATE_TEST_SUITE_P(Dialects, Pmi1DialectTest, ::testing::ValuesIn(kPmi1Dialects),
                         [](const ::testing::TestParamInfo<Pmi1Dialect>& info) {
                           return std::string(info.param.name);
                         });

// --------------------------------------------------------- PMI-2 dialects --

struct Pmi2Dialect {
  const char* name;
  bool left_aligned;  // Slurm pads lengths on the right, hydra on the left
  const char* fullinit_response;
  const char* jobid_response;
  const char* universe_response;
  const char* mapping_response;
  const char* put_response;
  const char* get_found;  // key bc-0 = 0a0b
  const char* get_not_found;
  const char* fence_response;
  const char* nonexist_response;
  const char* finalize_response;
  const char* jobid;
  int appnum;
  int universe_size;
};

const Pmi2Dialect kPmi2Dialects[] = {
    {"Hydra402", false,  // captured from mpiexec.hydra 4.0.2 on this machine
     "cmd=fullinit-response;pmi-version=2;pmi-subversion=0;rank=1;size=2;appnum=0;"
     "debugged=FALSE;pmiverbose=FALSE;rc=0;",
     "cmd=job-getid-response;jobid=kvs_5618_0_675334125_vm;rc=0;",
     "cmd=info-getjobattr-response;found=FALSE;rc=0;",
     "cmd=info-getjobattr-response;found=TRUE;value=(vector,(0,1,2));rc=0;",
     "cmd=kvs-put-response;rc=0;", "cmd=kvs-get-response;found=TRUE;value=0a0b;rc=0;",
     "cmd=kvs-get-response;found=FALSE;rc=0;", "cmd=kvs-fence-response;rc=0;",
     "cmd=kvs-get-response;found=FALSE;rc=0;", "cmd=finalize-response;rc=0;",
     "kvs_5618_0_675334125_vm", 0, -1},
    {"Slurm", true,  // Slurm 22.05 mpi/pmi2 (reference/slurm.md)
     "cmd=fullinit-response;rc=0;pmi-version=2;pmi-subversion=0;rank=1;size=2;appnum=-1;"
     "debugged=FALSE;pmiverbose=FALSE;",
     "cmd=job-getid-response;rc=0;jobid=2.0;",
     "cmd=info-getjobattr-response;rc=0;found=TRUE;value=2;",
     "cmd=info-getjobattr-response;rc=0;found=TRUE;value=(vector,(0,1,2));",
     "cmd=kvs-put-response;rc=0;", "cmd=kvs-get-response;rc=0;found=TRUE;value=0a0b;",
     "cmd=kvs-get-response;rc=0;found=FALSE;", "cmd=kvs-fence-response;rc=0;",
     "cmd=kvs-get-response;rc=0;found=FALSE;", "cmd=finalize-response;rc=0;", "2.0", -1, 2},
    {"Hydra41", false,  // no pmi-version in fullinit, value before found, rc=1 not-found
     "cmd=fullinit-response;rc=0;rank=1;size=2;appnum=0;pmiverbose=0;",
     "cmd=job-getid-response;rc=0;jobid=kvs_1;",
     "cmd=info-getjobattr-response;rc=0;found=TRUE;value=2;",
     "cmd=info-getjobattr-response;rc=0;found=TRUE;value=(vector,(0,1,2));",
     "cmd=kvs-put-response;rc=0;", "cmd=kvs-get-response;rc=0;value=0a0b;found=TRUE;",
     "cmd=kvs-get-response;rc=1;", "cmd=kvs-fence-response;rc=0;", "cmd=kvs-get-response;rc=1;",
     "cmd=finalize-response;rc=0;", "kvs_1", 0, 2},
};

class Pmi2DialectTest : public ::testing::TestWithParam<Pmi2Dialect> {};

TEST_P(Pmi2DialectTest, HandshakeAndOperationsInOrder) {
  const Pmi2Dialect& d = GetParam();
  std::vector<std::string> requests;
  bool one_at_a_time = true;
  std::atomic<bool> closed{false};
  ScriptedServer server([&](Peer& peer) {
    requests.push_back(peer.ReadLine());
    peer.SendLine(d.left_aligned ? "cmd=response_to_init rc=0 pmi_version=2 pmi_subversion=0"
                                 : "cmd=response_to_init pmi_version=2 pmi_subversion=0 rc=0");
    for (const char* reply : {d.fullinit_response, d.jobid_response, d.universe_response,
                              d.mapping_response, d.put_response, d.get_found, d.get_not_found,
                              d.fence_response, d.nonexist_response, d.finalize_response}) {
      requests.push_back(peer.ReadRecord());
      one_at_a_time = one_at_a_time && peer.Quiet();
      peer.SendRecord(reply, d.left_aligned);
    }
    peer.Close();
    closed = true;
  });
  EventLoop loop;
  Owner owner;
  HostEndpoint endpoint = FdEndpoint(server.client_fd());
  endpoint.jobid = "2.0";  // Slurm's PMI_JOBID
  absl::StatusOr<std::unique_ptr<PmiWireHost>> host =
      PmiWireHost::Connect(loop, endpoint, WireProtocol::kPmi2, owner.Options());
  ASSERT_OK(host);
  const session::JobInfo& info = (*host)->info();
  EXPECT_EQ(info.kvsname, d.jobid);
  EXPECT_EQ((*host)->rank(), 1);
  EXPECT_EQ(info.size, 2);
  EXPECT_EQ(info.appnum, d.appnum);
  EXPECT_EQ(info.universe_size, d.universe_size);
  EXPECT_EQ(info.process_mapping, "(vector,(0,1,2))");
  EXPECT_EQ(info.limits.vallen_max, 1024);

  std::vector<std::string> results;
  (*host)->Put(1, "bc-1", "1a1b", [&](absl::Status s) { results.push_back("put " + Describe(s)); });
  (*host)->Get(1, "bc-0",
               [&](absl::StatusOr<std::string> v) { results.push_back("get " + Describe(v)); });
  (*host)->Get(1, "nosuch", [&](absl::StatusOr<std::string> v) {
    results.push_back(absl::StrCat("get ", absl::StatusCodeToString(v.status().code())));
  });
  (*host)->Barrier(1, [&](absl::Status s) { results.push_back("barrier " + Describe(s)); });
  (*host)->Finalized(1);
  ASSERT_TRUE(RunUntil(loop, [&] { return owner.finalized == 1 && closed; }));
  RunFor(loop, absl::Milliseconds(20));
  EXPECT_THAT(results, ElementsAre("put OK", "get value 0a0b", "get NOT_FOUND", "barrier OK"));
  EXPECT_TRUE(owner.lost.empty()) << owner.lost[0];
  EXPECT_TRUE(one_at_a_time);
  const std::string j = d.jobid;
  EXPECT_THAT(
      requests,
      ElementsAre(
          "cmd=init pmi_version=2 pmi_subversion=0",
          "cmd=fullinit;pmijobid=2.0;pmirank=1;threaded=FALSE;", "cmd=job-getid;",
          "cmd=info-getjobattr;key=universeSize;", "cmd=info-getjobattr;key=PMI_process_mapping;",
          "cmd=kvs-put;key=bc-1;value=1a1b;", "cmd=kvs-get;jobid=" + j + ";srcid=-1;key=bc-0;",
          "cmd=kvs-get;jobid=" + j + ";srcid=-1;key=nosuch;", "cmd=kvs-fence;",
          "cmd=kvs-get;jobid=" + j + ";srcid=-1;key=-NONEXIST-KEY;", "cmd=finalize;"));
}

INSTANTIATE_TEST_SUITE_P(Dialects, Pmi2DialectTest, ::testing::ValuesIn(kPmi2Dialects),
                         [](const ::testing::TestParamInfo<Pmi2Dialect>& info) {
                           return std::string(info.param.name);
                         });

TEST(Pmi2Test, NodeAttributesAreForwardedWithWait) {
  std::vector<std::string> requests;
  ScriptedServer server([&](Peer& peer) {
    peer.ReadLine();
    peer.SendLine("cmd=response_to_init rc=0 pmi_version=2 pmi_subversion=0");
    for (const char* reply :
         {"cmd=fullinit-response;rc=0;rank=0;size=1;appnum=0;",
          "cmd=job-getid-response;rc=0;jobid=j;", "cmd=info-getjobattr-response;rc=0;found=FALSE;",
          "cmd=info-getjobattr-response;rc=0;found=FALSE;", "cmd=info-putnodeattr-response;rc=0;",
          "cmd=info-getnodeattr-response;found=TRUE;value=seg7;rc=0;",
          "cmd=info-getnodeattr-response;rc=1;"}) {
      requests.push_back(peer.ReadRecord());
      peer.SendRecord(reply, false);
    }
  });
  EventLoop loop;
  Owner owner;
  auto host = PmiWireHost::Connect(loop, FdEndpoint(server.client_fd(), 0, 1), WireProtocol::kPmi2,
                                   owner.Options());
  ASSERT_OK(host);
  EXPECT_FALSE((*host)->info().process_mapping.has_value());
  EXPECT_EQ((*host)->info().universe_size, -1);
  std::vector<std::string> results;
  (*host)->PutNodeAttr(0, "shm", "seg7", [&](absl::Status s) { results.push_back(Describe(s)); });
  (*host)->GetNodeAttr(0, "shm", true,
                       [&](absl::StatusOr<std::string> v) { results.push_back(Describe(v)); });
  (*host)->GetNodeAttr(0, "other", false, [&](absl::StatusOr<std::string> v) {
    results.push_back(absl::StatusCodeToString(v.status().code()));
  });
  ASSERT_TRUE(RunUntil(loop, [&] { return results.size() == 3; }));
  EXPECT_THAT(results, ElementsAre("OK", "value seg7", "NOT_FOUND"));
  host->reset();
  server.Join();
  ASSERT_EQ(requests.size(), 7u);
  EXPECT_EQ(requests[4], "cmd=info-putnodeattr;key=shm;value=seg7;");
  EXPECT_EQ(requests[5], "cmd=info-getnodeattr;key=shm;wait=TRUE;");
  EXPECT_EQ(requests[6], "cmd=info-getnodeattr;key=other;wait=FALSE;");
}

// ------------------------------------------------------- PMI_PORT (TCP) --

TEST(PortTest, Pmi1InitackHandshakeOverTcp) {
  const int listener = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in in{};
  in.sin_family = AF_INET;
  in.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::bind(listener, reinterpret_cast<sockaddr*>(&in), sizeof(in)), 0);
  ASSERT_EQ(::listen(listener, 1), 0);
  socklen_t length = sizeof(in);
  ::getsockname(listener, reinterpret_cast<sockaddr*>(&in), &length);
  std::vector<std::string> requests;
  std::thread server([&] {
    Peer peer(::accept4(listener, nullptr, nullptr, SOCK_CLOEXEC));
    requests.push_back(peer.ReadLine());
    // hydra 4.0.2 / MPICH-1: a bare initack, then three set lines in one write.
    peer.Send("cmd=initack\ncmd=set size=3\ncmd=set rank=2\ncmd=set debug=0\n");
    const Pmi1Dialect& d = kPmi1Dialects[0];
    std::vector<std::string> rest = ServePmi1Handshake(peer, d);
    requests.insert(requests.end(), rest.begin(), rest.end());
    peer.Close();
  });
  HostEndpoint endpoint;
  endpoint.family = HostFamily::kPmiWire;
  endpoint.port_host = "localhost";
  endpoint.port = ntohs(in.sin_port);
  endpoint.id = 2;
  EventLoop loop;
  Owner owner;
  auto host = PmiWireHost::Connect(loop, endpoint, WireProtocol::kPmi1, owner.Options());
  server.join();
  ::close(listener);
  ASSERT_OK(host);
  EXPECT_EQ((*host)->rank(), 2);
  EXPECT_EQ((*host)->info().size, 3);
  ASSERT_GE(requests.size(), 2u);
  EXPECT_EQ(requests[0], "cmd=initack pmiid=2");
  EXPECT_EQ(requests[1], "cmd=init pmi_version=1 pmi_subversion=1");
  // The server closed without a finalize: a loss, reported once.
  ASSERT_TRUE(RunUntil(loop, [&] { return !owner.lost.empty(); }));
  EXPECT_THAT(owner.lost[0], HasSubstr("PMI_PORT=localhost:"));
}

TEST(PortTest, Pmi2OverPortSkipsInitackAndNamesTheRankInFullinit) {
  const int listener = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in in{};
  in.sin_family = AF_INET;
  in.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::bind(listener, reinterpret_cast<sockaddr*>(&in), sizeof(in)), 0);
  ASSERT_EQ(::listen(listener, 1), 0);
  socklen_t length = sizeof(in);
  ::getsockname(listener, reinterpret_cast<sockaddr*>(&in), &length);
  std::vector<std::string> requests;
  std::thread server([&] {
    Peer peer(::accept4(listener, nullptr, nullptr, SOCK_CLOEXEC));
    requests.push_back(peer.ReadLine());
    peer.SendLine("cmd=response_to_init pmi_version=2 pmi_subversion=0 rc=0");
    for (const char* reply : {"cmd=fullinit-response;rank=1;size=2;appnum=0;rc=0;",
                              "cmd=job-getid-response;jobid=kvs_9;rc=0;",
                              "cmd=info-getjobattr-response;found=FALSE;rc=0;",
                              "cmd=info-getjobattr-response;found=FALSE;rc=0;"}) {
      requests.push_back(peer.ReadRecord());
      peer.SendRecord(reply, false);
    }
    peer.Close();
  });
  HostEndpoint endpoint;
  endpoint.family = HostFamily::kPmiWire;
  endpoint.port_host = "127.0.0.1";
  endpoint.port = ntohs(in.sin_port);
  endpoint.id = 1;
  EventLoop loop;
  auto host = PmiWireHost::Connect(loop, endpoint, WireProtocol::kPmi2, {});
  server.join();
  ::close(listener);
  ASSERT_OK(host);
  ASSERT_GE(requests.size(), 2u);
  EXPECT_EQ(requests[0], "cmd=init pmi_version=2 pmi_subversion=0");
  EXPECT_EQ(requests[1], "cmd=fullinit;pmijobid=;pmirank=1;threaded=FALSE;");
}

TEST(PortTest, NobodyListeningIsAClearError) {
  HostEndpoint endpoint;
  endpoint.family = HostFamily::kPmiWire;
  endpoint.port_host = "127.0.0.1";
  endpoint.port = 1;  // nothing listens on tcpmux
  endpoint.id = 0;
  EventLoop loop;
  auto host = PmiWireHost::Connect(loop, endpoint, WireProtocol::kPmi1, {});
  EXPECT_THAT(host, testutil::StatusIs(
                        ::testing::_,
                        HasSubstr("cannot connect to the host PMI server PMI_PORT=127.0.0.1:1")));
}

// ----------------------------------------------------- failure semantics --

// A PMI-1 host (hydra 4.0.2 dialect) that has done its handshake and then
// runs `rest`.
std::unique_ptr<ScriptedServer> Hydra402(std::function<void(Peer&)> rest) {
  return std::make_unique<ScriptedServer>([rest = std::move(rest)](Peer& peer) {
    ServePmi1Handshake(peer, kPmi1Dialects[0]);
    rest(peer);
  });
}

TEST(FailureTest, EofDuringBarrierFailsEverythingAndReportsOnce) {
  std::string request;
  auto server = Hydra402([&](Peer& peer) {
    request = peer.ReadLine();
    peer.Close();  // the launcher killed the job
  });
  EventLoop loop;
  Owner owner;
  auto host = PmiWireHost::Connect(loop, FdEndpoint(server->client_fd()), WireProtocol::kPmi1,
                                   owner.Options());
  ASSERT_OK(host);
  std::vector<absl::Status> results;
  (*host)->Barrier(1, [&](absl::Status s) { results.push_back(s); });
  (*host)->Put(1, "k", "v", [&](absl::Status s) { results.push_back(s); });
  ASSERT_TRUE(RunUntil(loop, [&] { return !owner.lost.empty(); }));
  ASSERT_EQ(results.size(), 2u);
  for (const absl::Status& s : results) EXPECT_TRUE(absl::IsUnavailable(s)) << s;
  ASSERT_EQ(owner.lost.size(), 1u);
  EXPECT_THAT(owner.lost[0], HasSubstr("host PMI server at PMI_FD="));
  EXPECT_THAT(owner.lost[0],
              HasSubstr("closed the connection while rank 1 waited for barrier_out"));
  EXPECT_EQ(owner.lost[0].find('\n'), std::string::npos);
  EXPECT_EQ((*host)->lost_reason(), owner.lost[0]);
  server->Join();
  EXPECT_EQ(request, "cmd=barrier_in");
  // Later operations fail at once with the same reason; no second report.
  absl::Status later;
  (*host)->Get(1, "k", [&](absl::StatusOr<std::string> v) { later = v.status(); });
  EXPECT_TRUE(absl::IsUnavailable(later));
  (*host)->Lost(1, "client died");  // nothing to send it to: ignored
  EXPECT_EQ(owner.lost.size(), 1u);
}

TEST(FailureTest, WrongReplyIsAProtocolViolation) {
  auto server = Hydra402([](Peer& peer) {
    peer.ReadLine();
    peer.SendLine("cmd=get_result rc=0 value=x");  // answers a put with a get result
    peer.ReadLine();                               // until the host hangs up
  });
  EventLoop loop;
  Owner owner;
  auto host = PmiWireHost::Connect(loop, FdEndpoint(server->client_fd()), WireProtocol::kPmi1,
                                   owner.Options());
  ASSERT_OK(host);
  absl::Status put;
  (*host)->Put(1, "k", "v", [&](absl::Status s) { put = s; });
  ASSERT_TRUE(RunUntil(loop, [&] { return !owner.lost.empty(); }));
  EXPECT_TRUE(absl::IsUnavailable(put)) << put;
  EXPECT_THAT(owner.lost[0], HasSubstr("answered put with \"cmd=get_result rc=0 value=x\" instead "
                                       "of cmd=put_result"));
}

TEST(FailureTest, UnaskedMessageDuringTheHandshakeFailsConnect) {
  Pmi1Dialect d = kPmi1Dialects[0];
  d.handshake_replies[5] += "\ncmd=barrier_out";
  ScriptedServer server([&](Peer& peer) {
    ServePmi1Handshake(peer, d);
    peer.ReadLine();  // until the host hangs up
  });
  EventLoop loop;
  auto host = PmiWireHost::Connect(loop, FdEndpoint(server.client_fd()), WireProtocol::kPmi1, {});
  EXPECT_THAT(host, testutil::StatusIs(::testing::_, HasSubstr("sent more than it was asked for")));
}

TEST(FailureTest, UnaskedMessageIsAProtocolViolation) {
  auto server = Hydra402([](Peer& peer) {
    peer.Quiet(absl::Milliseconds(100));  // Connect has returned by now
    peer.SendLine("cmd=barrier_out");
    peer.ReadLine();
  });
  EventLoop loop;
  Owner owner;
  auto host = PmiWireHost::Connect(loop, FdEndpoint(server->client_fd()), WireProtocol::kPmi1,
                                   owner.Options());
  ASSERT_OK(host);
  ASSERT_TRUE(RunUntil(loop, [&] { return !owner.lost.empty(); }));
  EXPECT_THAT(owner.lost[0], HasSubstr("sent \"cmd=barrier_out\" unasked"));
}

TEST(FailureTest, HandshakeTimesOutOnASilentServer) {
  ScriptedServer server([&](Peer& peer) {
    peer.ReadLine();  // never answers, but keeps the connection open
    peer.ReadLine();
  });
  EventLoop loop;
  PmiWireHost::Options options;
  options.handshake_timeout = absl::Milliseconds(100);
  auto host = PmiWireHost::Connect(loop, FdEndpoint(server.client_fd()), WireProtocol::kPmi1,
                                   std::move(options));
  ASSERT_FALSE(host.ok());
  EXPECT_TRUE(absl::IsDeadlineExceeded(host.status())) << host.status();
  EXPECT_THAT(std::string(host.status().message()), HasSubstr("did not answer init in time"));
}

TEST(FailureTest, RefusedVersionSaysWhichUpstreamToUse) {
  // Slurm after another task of the step chose PMI-2.
  ScriptedServer server([](Peer& peer) {
    peer.ReadLine();
    peer.SendLine("cmd=response_to_init rc=1 pmi_version=2 pmi_subversion=0");
  });
  EventLoop loop;
  auto host = PmiWireHost::Connect(loop, FdEndpoint(server.client_fd()), WireProtocol::kPmi1, {});
  EXPECT_THAT(host, testutil::StatusIs(::testing::_, HasSubstr("run with --upstream pmi2")));
}

TEST(FailureTest, InheritedFdMustBeASocket) {
  int pipe_fds[2];
  ASSERT_EQ(::pipe(pipe_fds), 0);
  ::close(pipe_fds[1]);
  EventLoop loop;
  auto host = PmiWireHost::Connect(loop, FdEndpoint(pipe_fds[0]), WireProtocol::kPmi1, {});
  EXPECT_THAT(host, testutil::StatusIs(
                        ::testing::_,
                        HasSubstr(absl::StrCat("PMI_FD=", pipe_fds[0], " is not an open socket"))));
  EXPECT_EQ(::close(pipe_fds[0]), 0) << "a descriptor that is not a socket is left alone";
  auto closed = PmiWireHost::Connect(loop, FdEndpoint(pipe_fds[0]), WireProtocol::kPmi1, {});
  EXPECT_THAT(std::string(closed.status().message()), HasSubstr("Bad file descriptor"));
}

TEST(FailureTest, Pmi1FdModeNeedsRankAndSize) {
  ScriptedServer server([](Peer&) {});
  HostEndpoint endpoint = FdEndpoint(server.client_fd());
  endpoint.size.reset();
  EventLoop loop;
  auto host = PmiWireHost::Connect(loop, endpoint, WireProtocol::kPmi1, {});
  EXPECT_THAT(host, testutil::StatusIs(::testing::_, HasSubstr("without PMI_RANK and PMI_SIZE")));
}

// ------------------------------------------------------ abort and lost --

TEST(AbortTest, Pmi1AbortCarriesCodeAndMessageLastAndJumpsTheQueue) {
  std::vector<std::string> lines;
  auto server = Hydra402([&](Peer& peer) {
    lines.push_back(peer.ReadLine());  // the barrier, never answered
    lines.push_back(peer.ReadLine());  // the abort
    peer.Close();                      // hydra ends the job
  });
  EventLoop loop;
  Owner owner;
  auto host = PmiWireHost::Connect(loop, FdEndpoint(server->client_fd()), WireProtocol::kPmi1,
                                   owner.Options());
  ASSERT_OK(host);
  absl::Status barrier;
  (*host)->Barrier(1, [&](absl::Status s) { barrier = s; });
  ASSERT_TRUE(RunUntil(loop, [&] { return true; }));
  (*host)->Abort(1, 7, "solver diverged\nat step 3");
  EXPECT_TRUE(absl::IsUnavailable(barrier)) << barrier;
  server->Join();
  RunFor(loop, absl::Milliseconds(20));  // the host sees the close
  EXPECT_THAT(lines, ElementsAre("cmd=barrier_in",
                                 "cmd=abort exitcode=7 message=solver diverged at step 3"));
  EXPECT_TRUE(owner.lost.empty()) << "a close after an abort is expected";
}

TEST(AbortTest, Pmi2AbortSendsBothSpellings) {
  std::string abort;
  ScriptedServer server([&](Peer& peer) {
    peer.ReadLine();
    peer.SendLine("cmd=response_to_init rc=0 pmi_version=2 pmi_subversion=0");
    for (const char* reply :
         {"cmd=fullinit-response;rc=0;rank=0;size=1;appnum=0;",
          "cmd=job-getid-response;rc=0;jobid=j;", "cmd=info-getjobattr-response;rc=0;found=FALSE;",
          "cmd=info-getjobattr-response;rc=0;found=FALSE;"}) {
      peer.ReadRecord();
      peer.SendRecord(reply, true);
    }
    abort = peer.ReadRecord();
  });
  EventLoop loop;
  auto host =
      PmiWireHost::Connect(loop, FdEndpoint(server.client_fd(), 0, 1), WireProtocol::kPmi2, {});
  ASSERT_OK(host);
  (*host)->Abort(0, 3, "bad; input");
  server.Join();
  EXPECT_EQ(abort, "cmd=abort;isworld=TRUE;exitcode=3;msg=bad, input;message=bad, input;");
}

TEST(AbortTest, LostClientAbortsTheJobUpstream) {
  std::string line;
  auto server = Hydra402([&](Peer& peer) { line = peer.ReadLine(); });
  EventLoop loop;
  Owner owner;
  auto host = PmiWireHost::Connect(loop, FdEndpoint(server->client_fd()), WireProtocol::kPmi1,
                                   owner.Options());
  ASSERT_OK(host);
  (*host)->Lost(1, "rank 1: closed its PMI connection without finalize");
  server->Join();
  RunFor(loop, absl::Milliseconds(20));
  EXPECT_EQ(line,
            "cmd=abort exitcode=1 message=rank 1: closed its PMI connection without finalize");
  EXPECT_TRUE(owner.lost.empty());
}

// ------------------------------------------------------------ the rest --

TEST(ValidationTest, Pmi1RejectsWhatTheWireCannotCarryWithoutSendingIt) {
  std::string next;
  ScriptedServer server([&](Peer& peer) {
    ServePmi1Handshake(peer, kPmi1Dialects[1]);  // Slurm
    next = peer.ReadLine();
  });
  HostEndpoint endpoint = FdEndpoint(server.client_fd());
  endpoint.jobid = "2.0";
  EventLoop loop;
  auto host = PmiWireHost::Connect(loop, endpoint, WireProtocol::kPmi1, {});
  ASSERT_OK(host);
  std::vector<absl::Status> results;
  auto record = [&](absl::Status s) { results.push_back(s); };
  const std::string longest_key(64, 'k');
  const int vallen_max = (*host)->info().limits.vallen_max;
  (*host)->Put(1, "k", "two words", record);
  (*host)->Put(1, "a=b", "v", record);
  (*host)->Put(1, longest_key, std::string(vallen_max + 1, 'x'), record);
  (*host)->Put(1, longest_key, std::string(vallen_max, 'x'), record);
  ASSERT_EQ(results.size(), 3u);
  EXPECT_TRUE(absl::IsInvalidArgument(results[0]));
  EXPECT_THAT(std::string(results[0].message()), HasSubstr("holds a blank"));
  EXPECT_TRUE(absl::IsInvalidArgument(results[1]));
  EXPECT_TRUE(absl::IsInvalidArgument(results[2]));
  EXPECT_THAT(std::string(results[2].message()), HasSubstr("at most 1024 bytes per request"));
  server.Join();  // it read the one put that was sent
  EXPECT_EQ(next.size(), 1023u - 1) << "the longest allowed put fills Slurm's 1024-byte read";
}

TEST(ValidationTest, HydraTakesAFullSizeValue) {
  std::string next;
  auto server = Hydra402([&](Peer& peer) { next = peer.ReadLine(); });
  EventLoop loop;
  auto host = PmiWireHost::Connect(loop, FdEndpoint(server->client_fd()), WireProtocol::kPmi1, {});
  ASSERT_OK(host);
  ASSERT_EQ((*host)->info().limits.vallen_max, 1024);
  bool failed = false;
  (*host)->Put(1, std::string(64, 'k'), std::string(1024, 'x'),
               [&](absl::Status s) { failed = !s.ok(); });
  server->Join();
  EXPECT_FALSE(failed);
  EXPECT_EQ(next.size(), 29u + 23 + 64 + 1024 - 1);
}

TEST(CacheTest, GetsWithinAnEpochAreServedLocallyAndABarrierForgetsThem) {
  std::vector<std::string> seen;
  auto server = Hydra402([&](Peer& peer) {
    seen.push_back(peer.ReadLine());  // the first get of bc-0
    peer.SendLine("cmd=get_result rc=0 msg=success value=v0");
    seen.push_back(peer.ReadLine());  // the put; the second get never gets here
    peer.SendLine("cmd=put_result rc=0 msg=success");
    seen.push_back(peer.ReadLine());  // the barrier
    peer.SendLine("cmd=barrier_out");
    seen.push_back(peer.ReadLine());  // bc-0 again, in the new epoch
    peer.SendLine("cmd=get_result rc=0 msg=success value=v1");
  });
  EventLoop loop;
  auto host = PmiWireHost::Connect(loop, FdEndpoint(server->client_fd()), WireProtocol::kPmi1, {});
  ASSERT_OK(host);
  std::vector<std::string> values;
  auto keep = [&](absl::StatusOr<std::string> v) { values.push_back(v.ok() ? *v : "error"); };
  (*host)->Get(1, "bc-0", keep);
  (*host)->Put(1, "bc-1", "mine", [](absl::Status) {});
  ASSERT_TRUE(RunUntil(loop, [&] { return values.size() == 1; }));
  (*host)->Get(1, "bc-0", keep);  // answered at once, from the cache
  (*host)->Get(1, "bc-1", keep);  // its own put, too
  EXPECT_EQ(values.size(), 3u);
  (*host)->Barrier(1, [](absl::Status) {});
  (*host)->Get(1, "bc-0", keep);
  ASSERT_TRUE(RunUntil(loop, [&] { return values.size() == 4; }));
  server->Join();
  EXPECT_THAT(values, ElementsAre("v0", "v0", "mine", "v1"));
  ASSERT_EQ(seen.size(), 4u);
  EXPECT_THAT(seen[1], ::testing::StartsWith("cmd=put "));
  EXPECT_EQ(seen[2], "cmd=barrier_in");
}

TEST(ValidationTest, OnlyThisBridgesRankMayBeClaimedOnce) {
  auto server = Hydra402([](Peer&) {});
  EventLoop loop;
  auto host = PmiWireHost::Connect(loop, FdEndpoint(server->client_fd()), WireProtocol::kPmi1, {});
  ASSERT_OK(host);
  EXPECT_TRUE(absl::IsOutOfRange((*host)->ClaimRank(2)));
  EXPECT_TRUE(absl::IsPermissionDenied((*host)->ClaimRank(0)));
  EXPECT_OK((*host)->ClaimRank(1));
  EXPECT_TRUE(absl::IsFailedPrecondition((*host)->ClaimRank(1)));
}

TEST(NodeAttributeTest, Pmi1KeepsNodeAttributesInTheBridge) {
  auto server = Hydra402([](Peer&) {});
  EventLoop loop;
  auto host = PmiWireHost::Connect(loop, FdEndpoint(server->client_fd()), WireProtocol::kPmi1, {});
  ASSERT_OK(host);
  std::vector<std::string> results;
  (*host)->PutNodeAttr(1, "k", "v", [&](absl::Status s) { results.push_back(Describe(s)); });
  (*host)->GetNodeAttr(1, "k", true,
                       [&](absl::StatusOr<std::string> v) { results.push_back(Describe(v)); });
  (*host)->GetNodeAttr(1, "other", true, [&](absl::StatusOr<std::string> v) {
    results.push_back(absl::StatusCodeToString(v.status().code()));
  });
  EXPECT_THAT(results, ElementsAre("OK", "value v", "NOT_FOUND"));
}

TEST(MappingTest, HydraExtensionsAreReEncodedAtConnect) {
  Pmi1Dialect d = kPmi1Dialects[2];
  d.handshake_replies[5] = "cmd=get_result rc=0 value=(vector,[(0,2,1)]x2) found=TRUE";
  ScriptedServer server([&](Peer& peer) { ServePmi1Handshake(peer, d); });
  EventLoop loop;
  auto host =
      PmiWireHost::Connect(loop, FdEndpoint(server.client_fd(), 1, 4), WireProtocol::kPmi1, {});
  ASSERT_OK(host);
  EXPECT_EQ((*host)->info().process_mapping, "(vector,(0,2,1),(0,2,1))");
  std::string served;
  (*host)->Get(1, "PMI_process_mapping", [&](absl::StatusOr<std::string> v) { served = *v; });
  EXPECT_EQ(served, "(vector,(0,2,1),(0,2,1))");
}

TEST(TraceTest, EveryMessageIsTraced) {
  auto server = Hydra402([](Peer& peer) {
    peer.ReadLine();
    peer.SendLine("cmd=barrier_out");
  });
  EventLoop loop;
  std::vector<std::string> trace;
  PmiWireHost::Options options;
  options.trace = [&](bool to_host, const wire::Message& m) {
    trace.push_back(absl::StrCat(to_host ? "> " : "< ", m.command));
  };
  auto host = PmiWireHost::Connect(loop, FdEndpoint(server->client_fd()), WireProtocol::kPmi1,
                                   std::move(options));
  ASSERT_OK(host);
  bool done = false;
  (*host)->Barrier(1, [&](absl::Status) { done = true; });
  ASSERT_TRUE(RunUntil(loop, [&] { return done; }));
  EXPECT_EQ(trace.size(), 14u);
  EXPECT_EQ(trace[0], "> init");
  EXPECT_EQ(trace[12], "> barrier_in");
  EXPECT_EQ(trace[13], "< barrier_out");
}

}  // namespace
}  // namespace pmi_shim::upstream
