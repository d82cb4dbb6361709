// PmixClientPort: the few PMIx client operations the PMI-over-PMIx logic
// needs, as an interface, so that logic (PmiOverPmix) runs against a fake in
// unit tests and against libpmix in PmixClientHost.
//
// Every callback runs on the event loop's thread, possibly before the call
// returns. Implementations map libpmix's codes with pmix::FromPmix, so a
// lost server is Unavailable and a missing key NotFound.
#ifndef PMI_SHIM_BRIDGE_UPSTREAM_PMIX_CLIENT_PORT_H_
#define PMI_SHIM_BRIDGE_UPSTREAM_PMIX_CLIENT_PORT_H_

#include <functional>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace pmi_shim::upstream {

class PmixClientPort {
 public:
  using Done = std::function<void(absl::Status)>;
  using ValueDone = std::function<void(absl::StatusOr<std::string>)>;

  // PMIX_GLOBAL (the job's KVS) or PMIX_LOCAL (node attributes).
  enum class Scope { kJob, kNode };
  // How a value is stored: a PMIx string, or a byte object (any bytes).
  enum class Kind { kString, kBytes };

  virtual ~PmixClientPort() = default;

  // PMIx_Put: copies the value; others see it after Commit (node scope) or
  // after the next fence (job scope).
  virtual absl::Status Put(Scope scope, const std::string& pmix_key, absl::string_view value,
                           Kind kind) = 0;
  virtual absl::Status Commit() = 0;
  // PMIx_Fence_nb over the whole namespace, collecting the data so later
  // gets are local. `what` names it in errors.
  virtual void Fence(const std::string& what, Done done) = 0;
  // PMIx_Get_nb of `pmix_key` put by `rank`, with PMIX_IMMEDIATE: what the
  // server holds now, NotFound rather than a wait for a put.
  virtual void Get(int rank, const std::string& pmix_key, ValueDone done) = 0;
};

}  // namespace pmi_shim::upstream

#endif  // PMI_SHIM_BRIDGE_UPSTREAM_PMIX_CLIENT_PORT_H_
