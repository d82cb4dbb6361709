// RunTrace against a fake PMI server thread, with /bin/sh or bash as the
// traced command: the conversation is decoded both ways, the command's
// exit status comes back, the first side to close is recorded, half-close
// reaches the server, and an unreachable PMI_PORT is noted.
#include "bridge/diagnose/trace_relay.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/sockets.h"
#include "common/unique_fd.h"
#include "test/testing/status_matchers.h"

namespace pmi_shim::diagnose {
namespace {

// Plays a PMI-1 server on `fd`: answers init, then reads to end-of-stream
// and reports whether it got there (the relay passed the client's close on).
void ServeInit(int fd, bool* saw_eof) {
  std::string got;
  char buffer[512];
  ssize_t n;
  while (got.find('\n') == std::string::npos && (n = ::read(fd, buffer, sizeof(buffer))) > 0) {
    got.append(buffer, static_cast<size_t>(n));
  }
  const std::string reply = "cmd=response_to_init pmi_version=1 pmi_subversion=1 rc=0\n";
  (void)!::write(fd, reply.data(), reply.size());
  while ((n = ::read(fd, buffer, sizeof(buffer))) > 0) {
  }
  *saw_eof = n == 0;
}

class TraceRelayTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char dir[] = "/tmp/trace-relay-test-XXXXXX";
    ASSERT_NE(::mkdtemp(dir), nullptr);
    dir_ = dir;
    output_ = std::tmpfile();
  }
  void TearDown() override {
    std::fclose(output_);
    ::system(absl::StrCat("rm -rf '", dir_, "'").c_str());
  }
  std::string TranscriptText() {
    std::fflush(output_);
    std::rewind(output_);
    std::string text;
    char buffer[4096];
    size_t n;
    while ((n = std::fread(buffer, 1, sizeof(buffer), output_)) > 0) text.append(buffer, n);
    return text;
  }
  static std::string ReadFile(const std::string& path) {
    std::stringstream text;
    text << std::ifstream(path).rdbuf();
    return text.str();
  }
  std::string dir_;
  std::FILE* output_ = nullptr;
};

TEST_F(TraceRelayTest, PmiFdConversationIsDecodedAndRelayed) {
  int pair[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM, 0, pair), 0);
  UniqueFd server(pair[1]);  // pair[0] is the traced "PMI_FD": RunTrace owns it
  bool server_saw_eof = false;
  std::thread fake([&] { ServeInit(server.get(), &server_saw_eof); });
  const std::string reply_file = dir_ + "/reply";
  Transcript transcript(output_, Transcript::Format::kHuman, absl::Now());
  absl::StatusOr<int> status =
      RunTrace({{"PMI_FD", absl::StrCat(pair[0])}, {"PMI_RANK", "0"}, {"PMI_SIZE", "1"}},
               {"/bin/sh", "-c",
                absl::StrCat("printf 'cmd=init pmi_version=1 pmi_subversion=1\\n' >&$PMI_FD; "
                             "read -r reply <&$PMI_FD; echo \"$reply\" > '",
                             reply_file, "'; exit 3")},
               transcript);
  fake.join();
  ASSERT_OK(status);
  EXPECT_EQ(*status, 3) << "the command's exit status";
  EXPECT_EQ(ReadFile(reply_file), "cmd=response_to_init pmi_version=1 pmi_subversion=1 rc=0\n");
  EXPECT_TRUE(server_saw_eof) << "the command's close did not reach the server";
  const std::string text = TranscriptText();
  EXPECT_TRUE(absl::StrContains(text, "rank 0 C->S cmd=init pmi_version=1 pmi_subversion=1"))
      << text;
  EXPECT_TRUE(absl::StrContains(text, "rank 0 S->C cmd=response_to_init")) << text;
  EXPECT_TRUE(absl::StrContains(text, "rank 0 client closed the connection")) << text;
  EXPECT_FALSE(absl::StrContains(text, "server closed")) << "only the first close is news\n"
                                                         << text;
}

TEST_F(TraceRelayTest, PmiPortConnectionsAreRelayedToTheRealPort) {
  absl::StatusOr<TcpListener> listener = ListenTcp4("127.0.0.1", 0);
  ASSERT_OK(listener);
  SetNonBlocking(listener->fd.get()).IgnoreError();
  bool server_saw_eof = false;
  std::thread fake([&] {
    UniqueFd client;
    for (int i = 0; i < 10000 && !client.valid(); ++i) {
      client.Reset(::accept4(listener->fd.get(), nullptr, nullptr, SOCK_CLOEXEC));
      if (!client.valid()) ::usleep(1000);
    }
    if (client.valid()) {
      const int flags = 0;
      ::fcntl(client.get(), F_SETFL, flags);
      ServeInit(client.get(), &server_saw_eof);
    }
  });
  const std::string reply_file = dir_ + "/reply";
  Transcript transcript(output_, Transcript::Format::kHuman, absl::Now());
  absl::StatusOr<int> status = RunTrace(
      {{"PMI_PORT", absl::StrCat("127.0.0.1:", listener->port)}, {"PMI_ID", "2"}},
      {"/bin/bash", "-c",
       absl::StrCat(
           "exec 3<>/dev/tcp/${PMI_PORT%:*}/${PMI_PORT#*:} || exit 9; "
           "printf 'cmd=initack pmiid=2\\ncmd=init pmi_version=1 pmi_subversion=1\\n' >&3; "
           "read -r reply <&3; echo \"$reply\" > '",
           reply_file, "'")},
      transcript);
  fake.join();
  ASSERT_OK(status);
  EXPECT_EQ(*status, 0);
  EXPECT_EQ(ReadFile(reply_file), "cmd=response_to_init pmi_version=1 pmi_subversion=1 rc=0\n");
  EXPECT_TRUE(server_saw_eof);
  const std::string text = TranscriptText();
  EXPECT_TRUE(absl::StrContains(text, "rank 2 C->S cmd=initack pmiid=2")) << text;
  EXPECT_TRUE(absl::StrContains(text, "rank 2 S->C cmd=response_to_init")) << text;
}

TEST_F(TraceRelayTest, AnUnreachablePmiPortIsNotedAndTheCommandSeesTheClose) {
  absl::StatusOr<TcpListener> listener = ListenTcp4("127.0.0.1", 0);
  ASSERT_OK(listener);
  const int port = listener->port;
  listener->fd.Reset();  // nothing listens there any more
  const std::string reply_file = dir_ + "/reply";
  Transcript transcript(output_, Transcript::Format::kHuman, absl::Now());
  absl::StatusOr<int> status =
      RunTrace({{"PMI_PORT", absl::StrCat("127.0.0.1:", port)}, {"PMI_ID", "0"}},
               {"/bin/bash", "-c",
                absl::StrCat("exec 3<>/dev/tcp/${PMI_PORT%:*}/${PMI_PORT#*:} || exit 9; "
                             "printf 'cmd=init pmi_version=1 pmi_subversion=1\\n' >&3; "
                             "read -r reply <&3; echo \"[$reply]\" > '",
                             reply_file, "'")},
               transcript);
  ASSERT_OK(status);
  EXPECT_EQ(*status, 0);
  EXPECT_EQ(ReadFile(reply_file), "[]\n") << "the command must see the close, not hang";
  const std::string text = TranscriptText();
  EXPECT_TRUE(absl::StrContains(text, absl::StrCat("cannot connect to 127.0.0.1:", port))) << text;
}

}  // namespace
}  // namespace pmi_shim::diagnose
