// Test-only stand-in for the bridge's per-rank pmi.sock, for unit tests
// that run before (or without) a real bridge: a thread that serves a Unix
// socket with the real protocol/pmi codecs and answers the start-up
// requests of PMI-1 and PMI-2 the way the bridge's sessions do. It records
// the commands it saw so tests can assert what a client sent.
#ifndef PMI_SHIM_SHIM_CLIENT_FAKE_RANK_SERVER_H_
#define PMI_SHIM_SHIM_CLIENT_FAKE_RANK_SERVER_H_

#include <atomic>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "common/unique_fd.h"

namespace pmi_shim::shim_client {

class FakeRankServer {
 public:
  struct Options {
    int rank = 2;
    int size = 4;
    std::string kvsname = "kvs_fake_7";
    int init_rc = 0;          // rc of response_to_init
    bool answer = true;       // false: read requests, never reply
    int pmi1_subversion = 1;  // what response_to_init says for PMI-1
  };

  static absl::StatusOr<std::unique_ptr<FakeRankServer>> Start(const std::string& socket_path,
                                                               Options options);
  ~FakeRankServer();

  // Commands received so far ("init", "get_maxes", "fullinit", ...).
  std::vector<std::string> commands() const;
  int connections() const { return connections_; }

 private:
  FakeRankServer(UniqueFd listener, Options options);
  void Run();
  void Serve(int fd);

  UniqueFd listener_;
  UniqueFd stop_read_, stop_write_;
  Options options_;
  std::atomic<int> connections_{0};
  mutable std::mutex mu_;
  std::vector<std::string> commands_;
  std::thread thread_;
};

}  // namespace pmi_shim::shim_client

#endif  // PMI_SHIM_SHIM_CLIENT_FAKE_RANK_SERVER_H_
