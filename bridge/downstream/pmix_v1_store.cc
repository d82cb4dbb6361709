#include "bridge/downstream/pmix_v1_store.h"

#include <fcntl.h>
#include <pthread.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "common/unique_fd.h"

namespace pmi_shim::downstream {

namespace dstore = protocol::pmix_v1::dstore;

absl::StatusOr<std::unique_ptr<PmixV1Store>> PmixV1Store::Create(std::string dir,
                                                                 std::string nspace,
                                                                 dstore::Sizes sizes) {
  if (::mkdir(dir.c_str(), 0700) != 0) {
    return absl::ErrnoToStatus(errno, absl::StrCat("cannot create the PMIx v1 store ", dir));
  }
  std::unique_ptr<PmixV1Store> store(new PmixV1Store(std::move(dir), sizes));
  // The lock page: a process-shared rwlock that prefers writers, as v1.2
  // servers make it (clients only ever take it for reading).
  const auto page = static_cast<size_t>(::sysconf(_SC_PAGESIZE));
  ASSIGN_OR_RETURN(Mapping lock, store->MapNewFile(dstore::kLockFileName, page));
  pthread_rwlockattr_t attr;
  ::pthread_rwlockattr_init(&attr);
  ::pthread_rwlockattr_setpshared(&attr, PTHREAD_PROCESS_SHARED);
  ::pthread_rwlockattr_setkind_np(&attr, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
  store->lock_ = static_cast<pthread_rwlock_t*>(lock.address);
  const int rc = ::pthread_rwlock_init(store->lock_, &attr);
  ::pthread_rwlockattr_destroy(&attr);
  if (rc != 0) return absl::ErrnoToStatus(rc, "pthread_rwlock_init for the PMIx v1 store");
  PmixV1Store* raw = store.get();
  const std::string file_nspace = nspace;
  ASSIGN_OR_RETURN(dstore::DstoreImage image,
                   dstore::DstoreImage::Create(
                       std::move(nspace), sizes,
                       [raw, file_nspace](dstore::SegmentKind kind, uint32_t id,
                                          size_t size) -> absl::StatusOr<absl::Span<char>> {
                         ASSIGN_OR_RETURN(
                             Mapping mapping,
                             raw->MapNewFile(dstore::SegmentFileName(kind, file_nspace, id), size));
                         return absl::Span<char>(static_cast<char*>(mapping.address), mapping.size);
                       }));
  store->image_.emplace(std::move(image));
  return store;
}

absl::StatusOr<PmixV1Store::Mapping> PmixV1Store::MapNewFile(const std::string& name, size_t size) {
  const std::string path = absl::StrCat(dir_, "/", name);
  UniqueFd fd(::open(path.c_str(), O_CREAT | O_EXCL | O_RDWR | O_CLOEXEC, 0600));
  if (!fd.valid()) return absl::ErrnoToStatus(errno, absl::StrCat("cannot create ", path));
  if (::ftruncate(fd.get(), static_cast<off_t>(size)) != 0) {
    return absl::ErrnoToStatus(errno, absl::StrCat("ftruncate ", path));
  }
  void* address = ::mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd.get(), 0);
  if (address == MAP_FAILED) return absl::ErrnoToStatus(errno, absl::StrCat("mmap ", path));
  mappings_.push_back(Mapping{address, size});
  return mappings_.back();
}

PmixV1Store::~PmixV1Store() {
  image_.reset();
  for (const Mapping& mapping : mappings_) ::munmap(mapping.address, mapping.size);
  std::error_code ignored;
  std::filesystem::remove_all(dir_, ignored);
}

absl::Status PmixV1Store::Store(int32_t rank, const std::vector<dstore::Record>& records) {
  if (const int rc = ::pthread_rwlock_wrlock(lock_); rc != 0) {
    return absl::ErrnoToStatus(rc, "locking the PMIx v1 store");
  }
  absl::Status status = image_->StoreRank(rank, records);
  ::pthread_rwlock_unlock(lock_);
  return status;
}

std::vector<std::string> PmixV1Store::ClientEnvironment(const std::string& dir_as_seen) const {
  return {
      absl::StrCat(dstore::kBasePathVariable, "=", dir_as_seen),
      absl::StrCat(dstore::kInitialSizeVariable, "=", sizes_.initial),
      absl::StrCat(dstore::kMetaSizeVariable, "=", sizes_.meta),
      absl::StrCat(dstore::kDataSizeVariable, "=", sizes_.data),
      // Slots are found by rank, not by a linear search.
      absl::StrCat(dstore::kLinearSearchVariable, "=0"),
  };
}

}  // namespace pmi_shim::downstream
