// pmix_client_host_probe: one rank of a PMIx job, driving PmixClientHost the
// way a PMI client behind `pmi-bridge exec` would, for pmix_client_host_test.
//
//   mpirun.openmpi -n 4 pmix_client_host_probe            # prints per rank:
//   rank 2 of 4: ok mapping=(vector,(0,1,4))
//
// Each rank puts "k<rank>" and an escaped "pmix_probe<rank>", enters the
// barrier, reads the next rank's keys, checks that a missing key is
// not-found at once, reads the node attribute rank 0 puts late (so waiting
// gets poll), does a second put/barrier/get round and finalizes. Any check
// that fails prints "rank R of N: FAILED: why" and exits 1.
//
// --stall-rank=R: rank R never enters the barrier, so the others wait in it
// until the test kills the launcher; every rank then prints
// "rank R: upstream lost: ..." and exits 3.
// --abort-rank=R: after the first barrier rank R aborts the job with exit
// code 7 and the message "probe abort", as MPI_Abort would; the others idle.
// --report-dir=DIR: also write the final line to DIR/rank.<R>; the test reads
// it there when the launcher, which forwards stdout, is dead.
//
// Without a PMIx environment it prints one error line and exits 1.
#include <fcntl.h>
#include <unistd.h>

#include <csignal>
#include <cstdio>
#include <memory>
#include <string>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "bridge/upstream/pmix_client_host.h"
#include "common/event_loop.h"
#include "common/log.h"

namespace pmi_shim::upstream {
namespace {

constexpr int kExitUpstreamLost = 3;

class Probe {
 public:
  struct Flags {
    int stall_rank = -1;
    int abort_rank = -1;
    std::string report_dir;
  };

  Probe(EventLoop& loop, Flags flags) : loop_(loop), flags_(std::move(flags)) {}

  absl::Status Connect() {
    PmixClientHost::Options options;
    options.on_upstream_lost = [this](const std::string& reason) {
      Print(absl::StrCat("rank ", rank_, ": upstream lost: ", reason));
      Stop(kExitUpstreamLost);
    };
    absl::StatusOr<std::unique_ptr<PmixClientHost>> host =
        PmixClientHost::Connect(loop_, std::move(options));
    if (!host.ok()) return host.status();
    host_ = *std::move(host);
    rank_ = host_->rank();
    size_ = host_->info().size;
    return host_->ClaimRank(rank_);
  }

  void Start() {
    if (rank_ == flags_.stall_rank) return;  // stays connected, never enters the barrier
    PutOrFail("k", absl::StrCat("v", rank_));
    PutOrFail("pmix_probe", absl::StrCat("p", rank_));  // reserved prefix: escaped
    host_->Barrier(rank_, Then([this] { CheckFirstRound(); }));
  }

  int exit_code() const { return exit_code_; }
  // Destroying the host finalizes PMIx (if Finalized did not) before exit.
  void Close() { host_.reset(); }

 private:
  int Next() const { return (rank_ + 1) % size_; }

  void PutOrFail(absl::string_view prefix, std::string value) {
    host_->Put(rank_, absl::StrCat(prefix, rank_), std::move(value), [this](absl::Status s) {
      if (!s.ok()) Fail(absl::StrCat("put: ", s.message()));
    });
  }

  // Wraps a barrier continuation: fail on error, else go on.
  template <typename Fn>
  session::JobHost::Done Then(Fn next) {
    return [this, next](absl::Status status) {
      if (absl::IsUnavailable(status)) return;  // on_upstream_lost reports it
      if (!status.ok()) return Fail(absl::StrCat("barrier: ", status.message()));
      next();
    };
  }

  void Expect(std::string key, std::string want, std::function<void()> next) {
    host_->Get(rank_, key, [this, key, want, next](absl::StatusOr<std::string> got) {
      if (!got.ok()) return Fail(absl::StrCat("get ", key, ": ", got.status().message()));
      if (*got != want) return Fail(absl::StrCat("get ", key, " = ", *got, ", want ", want));
      next();
    });
  }

  void CheckFirstRound() {
    if (flags_.abort_rank >= 0) {
      // The others idle rather than fence: mpirun.openmpi 4.1.4 crashes or
      // hangs when a rank aborts while the others wait in a fence.
      if (rank_ == flags_.abort_rank) host_->Abort(rank_, 7, "probe abort");
      return;  // the launcher ends the job, this process included
    }
    Expect(absl::StrCat("k", Next()), absl::StrCat("v", Next()), [this] {
      Expect(absl::StrCat("pmix_probe", Next()), absl::StrCat("p", Next()), [this] {
        host_->Get(rank_, "-NONEXIST-KEY", [this](absl::StatusOr<std::string> got) {
          if (!absl::IsNotFound(got.status())) {
            return Fail(absl::StrCat("-NONEXIST-KEY: ", got.status().ToString()));
          }
          CheckMapping();
        });
      });
    });
  }

  void CheckMapping() {
    host_->Get(rank_, "PMI_process_mapping", [this](absl::StatusOr<std::string> got) {
      if (!got.ok()) return Fail(absl::StrCat("PMI_process_mapping: ", got.status().message()));
      mapping_ = *got;
      CheckNodeAttr();
    });
  }

  // Rank 0 puts late, so the others' waiting gets have to poll for it.
  void CheckNodeAttr() {
    if (rank_ == 0) {
      loop_.AddTimer(absl::Milliseconds(300), [this] {
        host_->PutNodeAttr(rank_, "probe-node", "n0", [this](absl::Status s) {
          if (!s.ok()) return Fail(absl::StrCat("putnodeattr: ", s.message()));
          SecondRound();
        });
      });
      return;
    }
    host_->GetNodeAttr(rank_, "probe-node", /*wait=*/true, [this](absl::StatusOr<std::string> v) {
      if (!v.ok() || *v != "n0") {
        return Fail(absl::StrCat("getnodeattr probe-node: ", v.ok() ? *v : v.status().ToString()));
      }
      host_->GetNodeAttr(rank_, "absent", /*wait=*/false, [this](absl::StatusOr<std::string> v) {
        if (!absl::IsNotFound(v.status())) return Fail("getnodeattr absent: not not-found");
        SecondRound();
      });
    });
  }

  void SecondRound() {
    PutOrFail("round2-", absl::StrCat("w", rank_));
    host_->Barrier(
        rank_, Then([this] {
          Expect(absl::StrCat("round2-", Next()), absl::StrCat("w", Next()), [this] {
            Print(absl::StrCat("rank ", rank_, " of ", size_, ": ok mapping=", mapping_));
            host_->Finalized(rank_);
            Stop(0);
          });
        }));
  }

  void Fail(absl::string_view why) {
    if (stopped_) return;
    Print(absl::StrCat("rank ", rank_, " of ", size_, ": FAILED: ", why));
    Stop(1);
  }

  void Stop(int code) {
    if (stopped_) return;
    stopped_ = true;
    exit_code_ = code;
    loop_.Stop();
  }

  void Print(const std::string& line) const {
    printf("%s\n", line.c_str());
    fflush(stdout);
    if (flags_.report_dir.empty()) return;
    const std::string path = absl::StrCat(flags_.report_dir, "/rank.", rank_);
    const std::string text = line + "\n";
    int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) return;
    (void)!write(fd, text.data(), text.size());
    close(fd);
  }

  EventLoop& loop_;
  Flags flags_;
  std::unique_ptr<PmixClientHost> host_;
  int rank_ = -1;
  int size_ = 0;
  std::string mapping_;
  bool stopped_ = false;
  int exit_code_ = 0;
};

absl::StatusOr<Probe::Flags> ParseFlags(int argc, char** argv) {
  Probe::Flags flags;
  for (int i = 1; i < argc; ++i) {
    absl::string_view arg = argv[i];
    bool ok = true;
    if (absl::ConsumePrefix(&arg, "--report-dir=")) {
      flags.report_dir = std::string(arg);
    } else if (absl::ConsumePrefix(&arg, "--stall-rank=")) {
      ok = absl::SimpleAtoi(arg, &flags.stall_rank);
    } else if (absl::ConsumePrefix(&arg, "--abort-rank=")) {
      ok = absl::SimpleAtoi(arg, &flags.abort_rank);
    } else {
      ok = false;
    }
    if (!ok) {
      return absl::InvalidArgumentError(
          absl::StrCat("bad argument ", argv[i],
                       "; usage: [--stall-rank=R] [--abort-rank=R] [--report-dir=DIR]"));
    }
  }
  return flags;
}

int Main(int argc, char** argv) {
  log::Init("pmix_client_host_probe");
  // Output goes to the launcher through a pipe; once it is dead a write
  // must fail, not kill the rank before it reports.
  ::signal(SIGPIPE, SIG_IGN);
  absl::StatusOr<Probe::Flags> flags = ParseFlags(argc, argv);
  if (!flags.ok()) {
    log::Error(flags.status().message());
    return 2;
  }
  EventLoop loop;
  Probe probe(loop, *std::move(flags));
  if (absl::Status status = probe.Connect(); !status.ok()) {
    log::Error(status.message());
    return 1;
  }
  loop.Post([&probe] { probe.Start(); });
  if (absl::Status status = loop.Run(); !status.ok()) {
    log::Error(status.message());
    return 1;
  }
  probe.Close();
  return probe.exit_code();
}

}  // namespace
}  // namespace pmi_shim::upstream

int main(int argc, char** argv) { return pmi_shim::upstream::Main(argc, argv); }
