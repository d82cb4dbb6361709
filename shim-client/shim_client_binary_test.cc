// The pmi-shim-client binary itself, against the fake rank server (the real
// bridge is exercised by test/e2e/shim_client_hydra_test.cc): exec hands the
// application a connected PMI_FD with a scrubbed environment, check prints
// its verdict, and the binary runs in a root holding nothing but itself and
// busybox (it is fully static).
#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/sockets.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "shim-client/fake_rank_server.h"
#include "test/testing/runfiles.h"
#include "test/testing/status_matchers.h"
#include "test/testing/subprocess.h"

namespace pmi_shim::shim_client {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;

class ShimClientBinaryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<std::string> bin = testutil::Runfile("shim-client/pmi-shim-client");
    ASSERT_OK(bin);
    bin_ = *bin;
    char pattern[] = "/tmp/shim-binary-XXXXXX";
    ASSERT_NE(::mkdtemp(pattern), nullptr);
    root_ = pattern;
    dir_ = root_ + "/rv";
    ASSERT_EQ(::mkdir(dir_.c_str(), 0700), 0);
  }
  void TearDown() override {
    server_.reset();
    ASSERT_EQ(std::system(("rm -rf " + root_).c_str()), 0);
  }
  void Publish(const std::string& env_text) {
    std::ofstream(dir_ + "/env") << env_text;
    auto server = FakeRankServer::Start(dir_ + "/pmi.sock", {});
    ASSERT_OK(server);
    server_ = *std::move(server);
  }
  testutil::RunResult Run(std::vector<std::string> argv,
                          std::vector<std::pair<std::string, std::string>> env = {}) {
    testutil::RunOptions options;
    options.argv = std::move(argv);
    options.env = std::move(env);
    // Whatever the test runner has of these must not leak in (unless set here).
    for (const char* key : {"PMI_SHIM_DIR", "PMI_FD", "PMI_PORT", "PMI_RANK", "PMI_SIZE"}) {
      if (std::none_of(options.env.begin(), options.env.end(),
                       [&](const auto& entry) { return entry.first == key; })) {
        options.unset_env.push_back(key);
      }
    }
    options.timeout = absl::Seconds(20);
    absl::StatusOr<testutil::RunResult> result = testutil::RunSubprocess(options);
    EXPECT_OK(result);
    return result.ok() ? *result : testutil::RunResult{};
  }

  std::string bin_, root_, dir_;
  std::unique_ptr<FakeRankServer> server_;
};

TEST_F(ShimClientBinaryTest, ExecHandsOverAConnectedPmiFdAndScrubsTheEnvironment) {
  Publish("PMI_SHIM_PROTOCOL=pmi1\nPMI_RANK=1\nPMI_SIZE=2\nPMI_SHIM_HOST_TMP=1:2\n");
  testutil::RunResult run =
      Run({bin_, "exec", "--", "/bin/sh", "-c",
           "echo rank=$PMI_RANK size=$PMI_SIZE port=${PMI_PORT-unset} id=${PMI_ID-unset} "
           "pmix=${PMIX_NAMESPACE-unset} host=${PMI_SHIM_HOST_TMP-unset}; "
           "readlink /proc/self/fd/$PMI_FD"},
          {{"PMI_SHIM_DIR", dir_},
           {"PMI_PORT", "10.1.1.1:5"},
           {"PMI_ID", "9"},
           {"PMIX_NAMESPACE", "host@0"}});
  EXPECT_EQ(run.exit_code, 0) << run.Describe();
  EXPECT_THAT(run.stdout_text,
              StartsWith("rank=1 size=2 port=unset id=unset pmix=unset host=unset\nsocket:["))
      << run.Describe();
  EXPECT_EQ(run.stderr_text, "");
  // The server's thread counts the connection when it gets to accept it,
  // which may be after the client has already exited.
  for (int i = 0; i < 200 && server_->connections() == 0; ++i) ::usleep(5000);
  EXPECT_EQ(server_->connections(), 1);
}

TEST_F(ShimClientBinaryTest, CheckPrintsRankSizeWireAndKvsname) {
  Publish("PMI_SHIM_PROTOCOL=pmi\nPMI_RANK=2\nPMI_SIZE=4\n");
  testutil::RunResult run = Run({bin_, "check", "--dir", dir_});
  EXPECT_EQ(run.exit_code, 0) << run.Describe();
  EXPECT_EQ(run.stdout_text, absl::StrCat("rank 2 of 4, PMI-1 (wire 1.1) through ", dir_,
                                          "/pmi.sock, kvsname kvs_fake_7, job ready\n"));
  run = Run({bin_, "check", "--json"}, {{"PMI_SHIM_DIR", dir_}});
  EXPECT_EQ(run.exit_code, 0) << run.Describe();
  nlohmann::json json = nlohmann::json::parse(run.stdout_text, nullptr, false);
  ASSERT_FALSE(json.is_discarded()) << run.stdout_text;
  EXPECT_EQ(json["ok"], true);
  EXPECT_EQ(json["rank"], 2);
  EXPECT_EQ(json["wire"], "PMI-1 (wire 1.1)");
  EXPECT_EQ(server_->connections(), 2);
}

TEST_F(ShimClientBinaryTest, CheckPmi2) {
  Publish("PMI_SHIM_PROTOCOL=pmi2\nPMI_RANK=2\nPMI_SIZE=4\nPMI_JOBID=kvs_fake_7\n");
  testutil::RunResult run = Run({bin_, "check", "--dir", dir_});
  EXPECT_EQ(run.exit_code, 0) << run.Describe();
  EXPECT_THAT(run.stdout_text, HasSubstr("rank 2 of 4, PMI-2 (wire 2.0) through "));
}

TEST_F(ShimClientBinaryTest, CheckFailsLoudlyOnNSingletons) {
  testutil::RunResult run = Run({"/usr/bin/env", "-i", bin_, "check"});
  EXPECT_EQ(run.exit_code, 1) << run.Describe();
  EXPECT_THAT(run.stderr_text, StartsWith("pmi-shim-client: no PMI rendezvous"));
  EXPECT_THAT(run.stderr_text, HasSubstr("rank 0 of 1 (the N-singletons symptom)"));
  EXPECT_THAT(run.stderr_text, HasSubstr("PMI_SHIM_DIR"));
}

TEST_F(ShimClientBinaryTest, ExecWithoutRendezvousWarnsOrRefusesWithStrict) {
  testutil::RunResult run = Run({"/usr/bin/env", "-i", bin_, "exec", "--", "/bin/echo", "ran"});
  EXPECT_EQ(run.exit_code, 0) << run.Describe();
  EXPECT_EQ(run.stdout_text, "ran\n");
  EXPECT_THAT(run.stderr_text, HasSubstr("as a singleton (rank 0 of 1)"));
  run = Run({"/usr/bin/env", "-i", bin_, "exec", "--strict", "--", "/bin/echo", "ran"});
  EXPECT_EQ(run.exit_code, 125) << run.Describe();
  EXPECT_EQ(run.stdout_text, "");
}

// A wrapper copied PMI_FD (and PMI_RANK/PMI_SIZE) into a container but not
// the socket: fd 987 is not open in the client. With the rank directory the
// client uses pmi.sock and says so in one line; without it, it refuses in
// one line instead of letting MPI fail on a bad descriptor.
TEST_F(ShimClientBinaryTest, ExecFallsBackFromADeadInheritedPmiFd) {
  Publish("PMI_SHIM_PROTOCOL=pmi\nPMI_SHIM_OFFERS=pmi,pmix\nPMI_RANK=1\nPMI_SIZE=2\n");
  testutil::RunResult run =
      Run({bin_, "exec", "--", "/bin/sh", "-c", "echo fd=$PMI_FD; readlink /proc/self/fd/$PMI_FD"},
          {{"PMI_SHIM_DIR", dir_}, {"PMI_FD", "987"}, {"PMI_RANK", "1"}, {"PMI_SIZE", "2"}});
  EXPECT_EQ(run.exit_code, 0) << run.Describe();
  EXPECT_THAT(run.stdout_text, Not(HasSubstr("fd=987"))) << run.Describe();
  EXPECT_THAT(run.stdout_text, HasSubstr("socket:[")) << run.Describe();
  EXPECT_EQ(run.stderr_text,
            absl::StrCat("pmi-shim-client: inherited PMI_FD=987 is not a usable socket here "
                         "(fd 987 is not open here (Bad file descriptor)); using the rank "
                         "directory ",
                         dir_, "\n"));

  run = Run({"/usr/bin/env", "-i", "PMI_FD=987", "PMI_SHIM_DIR=/nonexistent/rank.1", bin_, "exec",
             "--", "/bin/true"});
  EXPECT_EQ(run.exit_code, 125) << run.Describe();
  EXPECT_THAT(run.stderr_text, StartsWith("pmi-shim-client: inherited PMI_FD=987 is not a usable "
                                          "socket here"));
  EXPECT_THAT(run.stderr_text, HasSubstr("PMI_SHIM_DIR=/nonexistent/rank.1 is set but"));
  EXPECT_EQ(std::count(run.stderr_text.begin(), run.stderr_text.end(), '\n'), 1);
}

TEST_F(ShimClientBinaryTest, ExecOfAMissingCommandIs127WithOneLine) {
  Publish("PMI_SHIM_PROTOCOL=pmi1\nPMI_RANK=0\nPMI_SIZE=1\n");
  testutil::RunResult run = Run({bin_, "exec", "--dir", dir_, "--", "no-such-program-xyz"});
  EXPECT_EQ(run.exit_code, 127) << run.Describe();
  EXPECT_THAT(run.stderr_text,
              StartsWith("pmi-shim-client: no-such-program-xyz: command not found"));
  EXPECT_EQ(std::count(run.stderr_text.begin(), run.stderr_text.end(), '\n'), 1);
}

TEST_F(ShimClientBinaryTest, ExecWithABrokenEnvFileFails) {
  std::ofstream(dir_ + "/env") << "PMI_SHIM_PROTOCOL=carrier-pigeon\n";
  testutil::RunResult run = Run({bin_, "exec", "--dir", dir_, "--", "/bin/true"});
  EXPECT_EQ(run.exit_code, 125) << run.Describe();
  EXPECT_THAT(run.stderr_text, HasSubstr("unknown protocol 'carrier-pigeon'"));
}

// PMIx: with the server's port reachable the URI is kept; with it closed
// and pmix.sock present, exec relays a local port and rewrites every URI.
TEST_F(ShimClientBinaryTest, PmixKeepsAReachableUriAndRelaysAnUnreachableOne) {
  absl::StatusOr<TcpListener> server = ListenTcp4("127.0.0.1", 0);
  ASSERT_OK(server);
  const std::string uri = absl::StrCat("srv.0;tcp4://127.0.0.1:", server->port);
  std::ofstream(dir_ + "/env") << "PMI_SHIM_PROTOCOL=pmix\nPMIX_NAMESPACE=job@1\nPMIX_RANK=1\n"
                               << "PMIX_SERVER_URI41=" << uri << "\nPMIX_SERVER_URI21=" << uri
                               << "\n";
  const std::string show = "echo $PMIX_SERVER_URI41 $PMIX_SERVER_URI21 ${PMI_SIZE-nosize}";
  testutil::RunResult run =
      Run({bin_, "exec", "--dir", dir_, "--", "/bin/sh", "-c", show}, {{"PMI_SIZE", "4"}});
  EXPECT_EQ(run.exit_code, 0) << run.Describe();
  EXPECT_EQ(run.stdout_text, absl::StrCat(uri, " ", uri, " nosize\n"));
  run = Run({bin_, "check", "--dir", dir_});
  EXPECT_EQ(run.exit_code, 0) << run.Describe();
  EXPECT_EQ(run.stdout_text, absl::StrCat("rank 1, PMIx namespace job@1 through 127.0.0.1:",
                                          server->port, ", job ready\n"));

  server->fd.Reset();  // the server's port is now unreachable
  run = Run({bin_, "check", "--dir", dir_});
  EXPECT_EQ(run.exit_code, 1) << run.Describe();
  EXPECT_THAT(run.stdout_text, HasSubstr("FAILED: neither the PMIx server"));
  run = Run({bin_, "exec", "--dir", dir_, "--", "/bin/true"});
  EXPECT_EQ(run.exit_code, 125) << run.Describe();
  EXPECT_THAT(run.stderr_text, HasSubstr("pmix.sock is missing"));

  // Something listens on pmix.sock (the bridge's relay, in real life).
  auto fake = FakeRankServer::Start(dir_ + "/pmix.sock", {});
  ASSERT_OK(fake);
  run = Run({bin_, "exec", "--dir", dir_, "--", "/bin/sh", "-c", show});
  EXPECT_EQ(run.exit_code, 0) << run.Describe();
  std::vector<std::string> words = absl::StrSplit(run.stdout_text, ' ');
  ASSERT_EQ(words.size(), 3u) << run.stdout_text;
  EXPECT_THAT(words[0], StartsWith("srv.0;tcp4://127.0.0.1:"));
  EXPECT_NE(words[0], uri);
  EXPECT_EQ(words[0], words[1]);
  run = Run({bin_, "check", "--dir", dir_});
  EXPECT_EQ(run.exit_code, 0) << run.Describe();
  EXPECT_THAT(run.stdout_text, HasSubstr("unreachable here; exec relays a local port"));
}

TEST_F(ShimClientBinaryTest, InspectListsTheMpiOfARootAndRejectsAMissingOne) {
  testutil::RunResult run = Run({bin_, "inspect", "/", "--json"});
  EXPECT_EQ(run.exit_code, 0) << run.Describe();
  EXPECT_FALSE(nlohmann::json::parse(run.stdout_text, nullptr, false).is_discarded())
      << run.stdout_text;
  run = Run({bin_, "inspect", root_ + "/no-such-root"});
  EXPECT_EQ(run.exit_code, 1) << run.Describe();
  EXPECT_THAT(run.stderr_text, StartsWith("pmi-shim-client: inspect: "));
  EXPECT_EQ(std::count(run.stderr_text.begin(), run.stderr_text.end(), '\n'), 1);
}

// The binary needs nothing from the image: chroot into a root holding only
// busybox and pmi-shim-client, and run a full check plus an exec there.
TEST_F(ShimClientBinaryTest, RunsStaticInABusyboxOnlyRoot) {
#if defined(PMI_SHIM_DYNAMIC_BUILD)
  GTEST_SKIP() << "[not applicable] sanitizer builds link the client dynamically (the plain "
                  "build is checked)";
#endif
  if (::geteuid() != 0) GTEST_SKIP() << "chroot needs root";
  if (::access("/bin/busybox", X_OK) != 0) GTEST_SKIP() << "busybox-static is not installed";
  ASSERT_EQ(std::system(absl::StrCat("mkdir -p ", root_, "/bin && cp /bin/busybox ", root_,
                                     "/bin/busybox && ln -s busybox ", root_, "/bin/sh && cp ",
                                     bin_, " ", root_, "/bin/pmi-shim-client")
                            .c_str()),
            0);
  Publish("PMI_SHIM_PROTOCOL=pmi1\nPMI_RANK=3\nPMI_SIZE=4\n");
  testutil::RunResult run =
      Run({"/usr/sbin/chroot", root_, "/bin/pmi-shim-client", "check", "--dir", "/rv"});
  if (run.exit_code != 0 && absl::StrContains(run.stderr_text, "Operation not permitted")) {
    GTEST_SKIP() << "chroot not permitted here: " << run.stderr_text;
  }
  EXPECT_EQ(run.exit_code, 0) << run.Describe();
  EXPECT_EQ(run.stdout_text,
            "rank 3 of 4, PMI-1 (wire 1.1) through /rv/pmi.sock, kvsname kvs_fake_7, job ready\n");
  run = Run({"/usr/sbin/chroot", root_, "/bin/pmi-shim-client", "exec", "--dir", "/rv", "--", "sh",
             "-c", "echo $PMI_RANK/$PMI_SIZE fd=$PMI_FD"});
  EXPECT_EQ(run.exit_code, 0) << run.Describe();
  EXPECT_THAT(run.stdout_text, StartsWith("3/4 fd="));
}

}  // namespace
}  // namespace pmi_shim::shim_client
