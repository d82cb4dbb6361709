#include "hook/apply/seccomp_policy.h"

#include <seccomp.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <memory>

#include "absl/strings/str_cat.h"
#include "common/unique_fd.h"

namespace pmi_shim::hook {
namespace {

struct FilterDeleter {
  void operator()(void* ctx) const { seccomp_release(ctx); }
};
using Filter = std::unique_ptr<void, FilterDeleter>;

// What the relay's event loop, libc's malloc and an orderly exit use.
constexpr int kAllowed[] = {
    // event loop, pidfd, signalfd
    SCMP_SYS(epoll_wait),
    SCMP_SYS(epoll_pwait),
    SCMP_SYS(epoll_pwait2),
    SCMP_SYS(epoll_ctl),
    SCMP_SYS(read),
    SCMP_SYS(write),
    SCMP_SYS(close),
    // accepting clients, connecting to the server, moving bytes
    SCMP_SYS(accept4),
    SCMP_SYS(connect),
    SCMP_SYS(setsockopt),
    SCMP_SYS(getsockopt),
    SCMP_SYS(getsockname),
    SCMP_SYS(recvfrom),
    SCMP_SYS(sendto),
    SCMP_SYS(recvmsg),
    SCMP_SYS(sendmsg),
    SCMP_SYS(shutdown),
    SCMP_SYS(fcntl),
    // memory and time
    SCMP_SYS(brk),
    SCMP_SYS(mmap),
    SCMP_SYS(munmap),
    SCMP_SYS(mremap),
    SCMP_SYS(madvise),
    SCMP_SYS(mprotect),
    SCMP_SYS(futex),
    SCMP_SYS(clock_gettime),
    SCMP_SYS(gettimeofday),
    SCMP_SYS(getpid),
    SCMP_SYS(gettid),
    // signals and exit
    SCMP_SYS(rt_sigreturn),
    SCMP_SYS(rt_sigprocmask),
    SCMP_SYS(restart_syscall),
    SCMP_SYS(exit),
    SCMP_SYS(exit_group),
    // Sanitizer runtimes query the alternate signal stack when a thread ends.
    SCMP_SYS(sigaltstack),
#ifdef PMI_SHIM_DYNAMIC_BUILD
    // Sanitizer builds only: UBSan's vptr check probes whether memory is
    // readable by writing it into a pipe, the first time it meets a type
    // (the relay's shared_ptr control blocks, after the filter is in).
    SCMP_SYS(pipe2),
    SCMP_SYS(pipe),
#endif
};

absl::StatusOr<Filter> BuildFilter() {
  Filter filter(seccomp_init(SCMP_ACT_KILL_PROCESS));
  if (!filter) return absl::InternalError("seccomp_init failed");
  for (int syscall : kAllowed) {
    if (syscall < 0) continue;  // not on this architecture
    if (int rc = seccomp_rule_add(filter.get(), SCMP_ACT_ALLOW, syscall, 0); rc != 0) {
      return absl::ErrnoToStatus(-rc, absl::StrCat("seccomp_rule_add(", syscall, ")"));
    }
  }
  // Outgoing sockets: IPv4 TCP only (the relay's connection to the server).
  if (int rc = seccomp_rule_add(filter.get(), SCMP_ACT_ALLOW, SCMP_SYS(socket), 1,
                                SCMP_A0(SCMP_CMP_EQ, AF_INET));
      rc != 0) {
    return absl::ErrnoToStatus(-rc, "seccomp_rule_add(socket)");
  }
  return filter;
}

}  // namespace

absl::Status InstallRelaySeccompPolicy() {
  absl::StatusOr<Filter> filter = BuildFilter();
  if (!filter.ok()) return filter.status();
  if (int rc = seccomp_load(filter->get()); rc != 0) {
    return absl::ErrnoToStatus(-rc, "cannot load the relay's seccomp filter");
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> RelaySeccompPolicyText() {
  absl::StatusOr<Filter> filter = BuildFilter();
  if (!filter.ok()) return filter.status();
  // libseccomp writes to an fd: a memfd keeps this off the filesystem.
  UniqueFd memory(::memfd_create("relay-seccomp", MFD_CLOEXEC));
  if (!memory.valid()) return absl::ErrnoToStatus(errno, "memfd_create");
  if (int rc = seccomp_export_pfc(filter->get(), memory.get()); rc != 0) {
    return absl::ErrnoToStatus(-rc, "seccomp_export_pfc");
  }
  std::string text;
  char chunk[4096];
  ssize_t n;
  ::lseek(memory.get(), 0, SEEK_SET);
  while ((n = ::read(memory.get(), chunk, sizeof(chunk))) > 0) text.append(chunk, n);
  return text;
}

}  // namespace pmi_shim::hook
