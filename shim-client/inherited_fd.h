// Is the PMI_FD this process inherited a socket it can use?
//
// A wrapper that copies the host environment into a container (podman
// --env-host or --env 'PMI_*', sarus, shifter, enroot, a site script that
// writes a runc config.json) carries the number PMI_FD=N in, but not the
// socket behind it: inside, fd N is closed ("Bad file descriptor"), or is
// some other file the engine left open. pmi-shim-client checks before it
// lets the application use it, and otherwise takes the rank directory.
//
// The facts are gathered with fstat/getsockopt (ProbeInheritedFd); the
// judgement is pure (JudgeInheritedFd).
#ifndef PMI_SHIM_SHIM_CLIENT_INHERITED_FD_H_
#define PMI_SHIM_SHIM_CLIENT_INHERITED_FD_H_

#include <cstdint>
#include <optional>
#include <string>

namespace pmi_shim::shim_client {

struct InheritedFdFacts {
  std::string value;       // PMI_FD's text
  std::optional<int> fd;   // nullopt: not a descriptor number
  int fstat_errno = 0;     // fstat(fd) failed with this
  bool is_socket = false;  // S_ISSOCK
  int sockopt_errno = 0;   // getsockopt(SO_TYPE) failed with this
  int socket_type = 0;     // SO_TYPE
  uint64_t inode = 0;      // st_ino (sockfs inodes are the same in every namespace)
};

// fstat and getsockopt on `value` parsed as a descriptor.
InheritedFdFacts ProbeInheritedFd(const std::string& value);

struct FdJudgement {
  bool usable = false;
  std::string why;  // when not usable: "fd 5 is not open here (Bad file descriptor)"
};

// Usable: an open stream socket, and, when the rank directory recorded which
// socket the bridge handed over (PMI_SHIM_FD_INODE), that very one.
FdJudgement JudgeInheritedFd(const InheritedFdFacts& facts, std::optional<uint64_t> expected_inode);

}  // namespace pmi_shim::shim_client

#endif  // PMI_SHIM_SHIM_CLIENT_INHERITED_FD_H_
