#include "shim-client/inherited_fd.h"

#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>

namespace pmi_shim::shim_client {
namespace {

using ::testing::HasSubstr;

InheritedFdFacts Socket(int fd, uint64_t inode) {
  InheritedFdFacts facts;
  facts.value = std::to_string(fd);
  facts.fd = fd;
  facts.is_socket = true;
  facts.socket_type = SOCK_STREAM;
  facts.inode = inode;
  return facts;
}

TEST(JudgeInheritedFd, Table) {
  EXPECT_TRUE(JudgeInheritedFd(Socket(5, 77), std::nullopt).usable);
  EXPECT_TRUE(JudgeInheritedFd(Socket(5, 77), 77).usable);

  FdJudgement other = JudgeInheritedFd(Socket(5, 78), 77);
  EXPECT_FALSE(other.usable);
  EXPECT_THAT(other.why, HasSubstr("another socket"));

  InheritedFdFacts closed = Socket(5, 0);
  closed.is_socket = false;
  closed.fstat_errno = EBADF;
  FdJudgement bad = JudgeInheritedFd(closed, std::nullopt);
  EXPECT_FALSE(bad.usable);
  EXPECT_THAT(bad.why, HasSubstr("fd 5 is not open here (Bad file descriptor)"));

  InheritedFdFacts file = Socket(3, 9);
  file.is_socket = false;
  EXPECT_THAT(JudgeInheritedFd(file, std::nullopt).why, HasSubstr("not a socket"));

  InheritedFdFacts datagram = Socket(3, 9);
  datagram.socket_type = SOCK_DGRAM;
  EXPECT_THAT(JudgeInheritedFd(datagram, std::nullopt).why, HasSubstr("not a stream socket"));

  InheritedFdFacts broken = Socket(3, 9);
  broken.sockopt_errno = ENOTSOCK;
  EXPECT_FALSE(JudgeInheritedFd(broken, std::nullopt).usable);

  InheritedFdFacts words;
  words.value = "five";
  EXPECT_THAT(JudgeInheritedFd(words, std::nullopt).why, HasSubstr("PMI_FD=five"));
}

TEST(ProbeInheritedFd, RealDescriptors) {
  int pair[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM, 0, pair), 0);
  InheritedFdFacts facts = ProbeInheritedFd(std::to_string(pair[0]));
  EXPECT_TRUE(JudgeInheritedFd(facts, std::nullopt).usable);
  EXPECT_TRUE(JudgeInheritedFd(facts, facts.inode).usable);
  EXPECT_NE(facts.inode, 0u);

  const int file = ::open("/dev/null", O_RDONLY);
  ASSERT_GE(file, 0);
  EXPECT_THAT(JudgeInheritedFd(ProbeInheritedFd(std::to_string(file)), std::nullopt).why,
              HasSubstr("not a socket"));
  ::close(file);
  ::close(pair[1]);
  const int closed = pair[1];
  EXPECT_THAT(JudgeInheritedFd(ProbeInheritedFd(std::to_string(closed)), std::nullopt).why,
              HasSubstr("not open here"));
  ::close(pair[0]);
}

}  // namespace
}  // namespace pmi_shim::shim_client
