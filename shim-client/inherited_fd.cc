#include "shim-client/inherited_fd.h"

#include <sys/socket.h>
#include <sys/stat.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace pmi_shim::shim_client {

InheritedFdFacts ProbeInheritedFd(const std::string& value) {
  InheritedFdFacts facts;
  facts.value = value;
  int fd = -1;
  if (!absl::SimpleAtoi(value, &fd) || fd < 0) return facts;
  facts.fd = fd;
  struct stat info;
  if (::fstat(fd, &info) != 0) {
    facts.fstat_errno = errno;
    return facts;
  }
  facts.inode = info.st_ino;
  facts.is_socket = S_ISSOCK(info.st_mode);
  if (!facts.is_socket) return facts;
  socklen_t length = sizeof(facts.socket_type);
  if (::getsockopt(fd, SOL_SOCKET, SO_TYPE, &facts.socket_type, &length) != 0) {
    facts.sockopt_errno = errno;
  }
  return facts;
}

FdJudgement JudgeInheritedFd(const InheritedFdFacts& facts,
                             std::optional<uint64_t> expected_inode) {
  if (!facts.fd.has_value()) {
    return {false, absl::StrCat("PMI_FD=", facts.value, " is not a descriptor number")};
  }
  const int fd = *facts.fd;
  if (facts.fstat_errno != 0) {
    return {false,
            absl::StrCat("fd ", fd, " is not open here (", std::strerror(facts.fstat_errno), ")")};
  }
  if (!facts.is_socket) return {false, absl::StrCat("fd ", fd, " is not a socket here")};
  if (facts.sockopt_errno != 0) {
    return {false, absl::StrCat("fd ", fd, " is not a usable socket (",
                                std::strerror(facts.sockopt_errno), ")")};
  }
  if (facts.socket_type != SOCK_STREAM) {
    return {false, absl::StrCat("fd ", fd, " is not a stream socket")};
  }
  if (expected_inode.has_value() && *expected_inode != facts.inode) {
    return {false, absl::StrCat("fd ", fd,
                                " is another socket than the one pmi-bridge handed "
                                "over (inode ",
                                facts.inode, ", not ", *expected_inode, ")")};
  }
  return {true, ""};
}

}  // namespace pmi_shim::shim_client
