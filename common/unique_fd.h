// UniqueFd: sole owner of a file descriptor, closed when the owner goes away.
//
// Ownership moves with std::move; Release() hands the raw fd to code that
// takes it over (an exec'd child, another owner), so every hand-off is visible.
#ifndef PMI_SHIM_COMMON_UNIQUE_FD_H_
#define PMI_SHIM_COMMON_UNIQUE_FD_H_

#include <unistd.h>

#include <utility>

namespace pmi_shim {

class UniqueFd {
 public:
  UniqueFd() = default;
  explicit UniqueFd(int fd) : fd_(fd) {}
  UniqueFd(UniqueFd&& other) noexcept : fd_(other.Release()) {}
  UniqueFd& operator=(UniqueFd&& other) noexcept {
    if (this != &other) Reset(other.Release());
    return *this;
  }
  UniqueFd(const UniqueFd&) = delete;
  UniqueFd& operator=(const UniqueFd&) = delete;
  ~UniqueFd() { Reset(); }

  int get() const { return fd_; }
  bool valid() const { return fd_ >= 0; }

  // Gives up ownership without closing; the caller now owns the fd.
  int Release() { return std::exchange(fd_, -1); }

  // Closes the current fd (if any) and owns `fd` instead.
  void Reset(int fd = -1) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = fd;
  }

 private:
  int fd_ = -1;
};

}  // namespace pmi_shim

#endif  // PMI_SHIM_COMMON_UNIQUE_FD_H_
