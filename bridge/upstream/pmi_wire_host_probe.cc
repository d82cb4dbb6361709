// pmi_wire_host_probe: a throwaway rank that checks PmiWireHost against a
// real launcher by hand (test only; not part of pmi-bridge).
//
//   unshare --net bash -c 'ip link set lo up;
//     mpiexec.hydra [-pmi-port] -n 2 pmi_wire_host_probe pmi1|pmi2 [-v] [--abort|--lose]'
//
// Each rank connects with the chosen protocol, prints the job facts it got,
// puts "probe-<rank>", enters the barrier (rank 1 arrives 300 ms late, so
// rank 0's wait shows whether the barrier really synchronizes), reads the
// next rank's key and a missing key, and finalizes. With --abort rank 1
// aborts the job (exit code 7); with --lose it reports its client lost.
// -v traces every message to and from the host server on stderr.
#include <unistd.h>

#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "bridge/upstream/host_endpoint.h"
#include "bridge/upstream/pmi_wire_host.h"
#include "common/event_loop.h"

extern char** environ;

namespace pmi_shim::upstream {
namespace {

struct Args {
  UpstreamChoice choice = UpstreamChoice::kPmi1;
  bool verbose = false;
  bool abort = false;
  bool lose = false;
};

void Say(int rank, const std::string& text) {
  std::printf("rank %d: %s\n", rank, text.c_str());
  std::fflush(stdout);
}

std::string Show(const absl::StatusOr<std::string>& value) {
  return value.ok() ? absl::StrCat("\"", *value, "\"") : value.status().ToString();
}

// Runs the operations one after another on the loop, then stops it.
class Probe {
 public:
  Probe(EventLoop& loop, PmiWireHost& host, const Args& args)
      : loop_(loop), host_(host), args_(args), rank_(host.rank()) {}

  void Start() {
    const session::JobInfo& info = host_.info();
    Say(rank_, absl::StrCat(WireProtocolName(host_.protocol()), ": size ", info.size, " kvsname ",
                            info.kvsname, " appnum ", info.appnum, " universe ", info.universe_size,
                            " mapping ", info.process_mapping.value_or("<none>"), " limits ",
                            info.limits.kvsname_max, "/", info.limits.keylen_max, "/",
                            info.limits.vallen_max, host_.spawned() ? " spawned" : ""));
    absl::Status claimed = host_.ClaimRank(rank_);
    if (!claimed.ok()) Say(rank_, absl::StrCat("ClaimRank: ", claimed.ToString()));
    host_.Put(rank_, absl::StrCat("probe-", rank_), absl::StrCat("hello-from-", rank_),
              [this](absl::Status put) {
                Say(rank_, absl::StrCat("put: ", put.ToString()));
                if (rank_ == 1) {
                  loop_.AddTimer(absl::Milliseconds(300), [this] { Barrier(); });
                } else {
                  Barrier();
                }
              });
  }

 private:
  void Barrier() {
    if (rank_ == 1 && (args_.abort || args_.lose)) {
      if (args_.abort) host_.Abort(rank_, 7, "probe abort from rank 1");
      if (args_.lose) host_.Lost(rank_, "rank 1: probe client lost");
      Say(rank_, args_.abort ? "sent abort" : "reported the client lost");
      loop_.AddTimer(absl::Seconds(3), [this] { loop_.Stop(); });
      return;
    }
    const absl::Time entered = absl::Now();
    host_.Barrier(rank_, [this, entered](absl::Status done) {
      Say(rank_, absl::StrCat("barrier: ", done.ToString(), " after ",
                              absl::FormatDuration(absl::Now() - entered)));
      Gets();
    });
  }

  void Gets() {
    const int peer = (rank_ + 1) % host_.info().size;
    host_.Get(rank_, absl::StrCat("probe-", peer), [this, peer](absl::StatusOr<std::string> v) {
      Say(rank_, absl::StrCat("get probe-", peer, ": ", Show(v)));
      host_.Get(rank_, "no-such-key", [this](absl::StatusOr<std::string> missing) {
        Say(rank_, absl::StrCat("get no-such-key: ", Show(missing)));
        host_.Finalized(rank_);
      });
    });
  }

  EventLoop& loop_;
  PmiWireHost& host_;
  const Args& args_;
  int rank_;
};

int Main(int argc, char** argv) {
  Args args;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "pmi1") args.choice = UpstreamChoice::kPmi1;
    if (arg == "pmi2") args.choice = UpstreamChoice::kPmi2;
    if (arg == "-v") args.verbose = true;
    if (arg == "--abort") args.abort = true;
    if (arg == "--lose") args.lose = true;
  }
  std::vector<std::string> entries;
  for (char** e = environ; *e != nullptr; ++e) entries.emplace_back(*e);
  absl::StatusOr<HostEndpoint> endpoint = DetectHostEndpoint(entries, args.choice);
  if (!endpoint.ok()) {
    std::fprintf(stderr, "probe: %s\n", std::string(endpoint.status().message()).c_str());
    return 1;
  }
  EventLoop loop;
  int exit_code = 0;
  PmiWireHost::Options options;
  const std::string where = endpoint->Describe();
  options.on_upstream_lost = [&](std::string reason) {
    std::fprintf(stderr, "probe: upstream lost: %s\n", reason.c_str());
    exit_code = 2;
    loop.Stop();
  };
  options.on_finalized = [&] { loop.Stop(); };
  if (args.verbose) {
    options.trace = [&where](bool to_host, const wire::Message& m) {
      std::fprintf(stderr, "probe %s %s %s\n", where.c_str(), to_host ? "->" : "<-",
                   m.DebugString().c_str());
    };
  }
  absl::StatusOr<std::unique_ptr<PmiWireHost>> host =
      PmiWireHost::Connect(loop, *endpoint, endpoint->protocol, std::move(options));
  if (!host.ok()) {
    std::fprintf(stderr, "probe: %s\n", std::string(host.status().message()).c_str());
    return 1;
  }
  Say((*host)->rank(), absl::StrCat("connected through ", where));
  Probe probe(loop, **host, args);
  probe.Start();
  loop.AddTimer(absl::Seconds(20), [&] {
    std::fprintf(stderr, "probe: timed out\n");
    exit_code = 3;
    loop.Stop();
  });
  if (absl::Status run = loop.Run(); !run.ok()) return 4;
  if (exit_code == 0) Say((*host)->rank(), "finalized");
  return exit_code;
}

}  // namespace
}  // namespace pmi_shim::upstream

int main(int argc, char** argv) { return pmi_shim::upstream::Main(argc, argv); }
