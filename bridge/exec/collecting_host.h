// CollectingHost: makes a PMI host's barrier collect the job's data, the way
// a PMIx fence with collect-data does, so that gets after it are answered
// from this bridge's memory instead of a round trip to the host server each.
//
// Without it, a bridged rank's get of a peer's key after a barrier costs two
// hops (client → bridge → hydra/Slurm) where a bare rank pays one. With it,
// each bridge publishes the keys its rank put this epoch as one blob before
// the barrier (modex_codec: header + segments under shim-kv-E-RANK), and on
// the first miss after the barrier reads every peer's blob at once; later
// gets of the epoch are local. Nothing is read for a barrier that no get
// follows (MPI_Finalize's). The puts themselves still go to the host too,
// so a rank that is not behind a bridge (or a key nobody bundled) is found
// the ordinary way: a miss in the collected data falls through to the host.
#ifndef PMI_SHIM_BRIDGE_EXEC_COLLECTING_HOST_H_
#define PMI_SHIM_BRIDGE_EXEC_COLLECTING_HOST_H_

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "bridge/downstream/modex_codec.h"
#include "bridge/session/forwarding_host.h"

namespace pmi_shim::exec {

using KeyValues = std::vector<std::pair<std::string, std::string>>;

// One rank's contribution: self-delimiting (a length, then key/value
// pairs, each length-prefixed), so contributions can be concatenated.
std::string PackContribution(const KeyValues& entries);
// Every pair of a concatenation of contributions, in order. DataLoss when
// the bytes are not what PackContribution makes.
absl::StatusOr<KeyValues> UnpackContributions(absl::string_view blob);

class CollectingHost : public session::ForwardingHost {
 public:
  // `rank`: the one rank this bridge serves.
  CollectingHost(session::JobHost& inner, int rank);
  ~CollectingHost() override { *alive_ = false; }

  void Put(int rank, std::string key, std::string value, Done done) override;
  void Get(int rank, std::string key, GetDone done) override;
  void Barrier(int rank, Done done) override;

 private:
  friend class CollectingHostPeer;  // tests: how many gets the collection answered

  enum class Collection { kNothing, kDue, kReading, kDone };
  struct Waiter {
    std::string key;
    GetDone done;
  };

  std::string BlobKey(int rank) const;
  // Reads every peer's blob of this epoch, then answers the waiters.
  void Collect();
  void ReadBlob(int peer, std::shared_ptr<int> outstanding);
  void CollectedOne(const std::shared_ptr<int>& outstanding);
  void Answer(std::string key, GetDone done);

  const int rank_;
  downstream::modex::CodecLimits limits_;
  int epoch_ = 0;
  KeyValues epoch_puts_;
  Collection collection_ = Collection::kNothing;
  absl::flat_hash_map<std::string, std::string> collected_;
  std::vector<Waiter> waiters_;
  int collected_hits_ = 0;
  // Callbacks the host still holds when this object is gone become no-ops.
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

}  // namespace pmi_shim::exec

#endif  // PMI_SHIM_BRIDGE_EXEC_COLLECTING_HOST_H_
