// PmixV1Store: the PMIx v1.2 shared-memory data store (ds12) in files, for
// clients built with it (the default of v1.2: they read every job fact and
// peer value from these files, never from messages).
//
// Creates DIR (0700) holding the lock page and the segments that
// protocol/pmix_v1/dstore_format.h lays out, each a file mapped shared
// (sparse: only pages written use memory), and writes under the lock's
// write side, as a v1.2 server does, while clients read under its read
// side. The lock is a process-shared pthread rwlock: client and bridge must
// use the same C library's rwlock layout (glibc on both sides; a musl
// image cannot read this store).
//
// Everything runs on one thread. The destructor unmaps and removes DIR.
#ifndef PMI_SHIM_BRIDGE_DOWNSTREAM_PMIX_V1_STORE_H_
#define PMI_SHIM_BRIDGE_DOWNSTREAM_PMIX_V1_STORE_H_

#include <sys/types.h>

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "protocol/pmix_v1/dstore_format.h"

namespace pmi_shim::downstream {

class PmixV1Store {
 public:
  // `dir` must not exist yet; its parent must.
  static absl::StatusOr<std::unique_ptr<PmixV1Store>> Create(
      std::string dir, std::string nspace,
      protocol::pmix_v1::dstore::Sizes sizes = protocol::pmix_v1::dstore::Sizes{});
  ~PmixV1Store();
  PmixV1Store(const PmixV1Store&) = delete;
  PmixV1Store& operator=(const PmixV1Store&) = delete;

  // Replaces what is stored for `rank` (kRankWildcard: the job), under the
  // write lock.
  absl::Status Store(int32_t rank, const std::vector<protocol::pmix_v1::dstore::Record>& records);

  const std::string& dir() const { return dir_; }
  // The variables a client needs to find the store at `dir_as_seen` (the
  // directory's path in the client's mount namespace): the base path and
  // the segment sizes it must assume.
  std::vector<std::string> ClientEnvironment(const std::string& dir_as_seen) const;

 private:
  struct Mapping {
    void* address = nullptr;
    size_t size = 0;
  };
  PmixV1Store(std::string dir, protocol::pmix_v1::dstore::Sizes sizes)
      : dir_(std::move(dir)), sizes_(sizes) {}
  absl::StatusOr<Mapping> MapNewFile(const std::string& name, size_t size);

  std::string dir_;
  protocol::pmix_v1::dstore::Sizes sizes_;
  std::vector<Mapping> mappings_;
  pthread_rwlock_t* lock_ = nullptr;
  std::optional<protocol::pmix_v1::dstore::DstoreImage> image_;
};

}  // namespace pmi_shim::downstream

#endif  // PMI_SHIM_BRIDGE_DOWNSTREAM_PMIX_V1_STORE_H_
