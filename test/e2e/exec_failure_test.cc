// End-to-end fault injection around `pmi-bridge exec` under mpiexec.hydra:
// 4 ranks, each `pmi-bridge exec -- pmi_raw_client SCRIPT`, and the test
// SIGKILLs one party at one phase of the job:
//
//   (a) one rank's command before it spoke PMI,
//   (b) one rank's command inside a barrier (the fence),
//   (c) one rank's command after its finalize (the others exit soon after),
//   (d) one rank's bridge while the ranks wait in a barrier,
//   (e) the upstream itself (hydra_pmi_proxy, the ranks' PMI server) while
//       the ranks wait in a barrier.
//
// Whatever dies, the job must end non-zero, quickly (each run is killed by
// the test at 15 s; the well-behaved ranks would otherwise sleep 20 s), and
// leave no process behind. Cases (a)-(c) first run the same job without the
// bridge, as the reference for what hydra does with a bare rank (where
// hydra itself is reliable). Timings are
// measured from the kill: the launcher's exit, and every bridge's.
#include <sys/stat.h>
#include <sys/wait.h>

#include <algorithm>
#include <cstdlib>
#include <functional>
#include <initializer_list>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "test/e2e/exec_util.h"
#include "test/testing/files.h"
#include "test/testing/launcher.h"
#include "test/testing/netns_test_main.h"
#include "test/testing/processes.h"
#include "test/testing/rank_lines.h"
#include "test/testing/runfiles.h"
#include "test/testing/status_matchers.h"

namespace pmi_shim::e2e {
namespace {

using testutil::Lines;
using testutil::ModeName;
using testutil::PmiMode;
using testutil::ProcessInfo;
using testutil::ProgramPath;
using testutil::ReadFile;
using Script = std::vector<std::string>;

constexpr int kRanks = 4;
// The test's own deadline for one run; the clients sleep longer than this.
constexpr absl::Duration kRunLimit = absl::Seconds(15);
// Kill -> every bridge gone, when the job is aborted or its server is lost.
constexpr absl::Duration kBridgeExitLimit = absl::Seconds(2);
// Kill -> mpiexec.hydra exited.
constexpr absl::Duration kJobEndLimit = absl::Seconds(5);

const Script kInit = {"initack", "send:cmd=init pmi_version=1 pmi_subversion=1\\n", "recv"};
const Script kWaitInBarrier = {"send:cmd=barrier_in\\n", "recv", "sleep:20000"};

std::vector<std::string> RawClient(std::initializer_list<Script> parts) {
  std::vector<std::string> command = {ProgramPath("pmi_raw_client")};
  for (const Script& part : parts) command.insert(command.end(), part.begin(), part.end());
  return command;
}

// Ranks 0-2 init and wait in a barrier; rank 3 inits and never enters it,
// so the barrier stays open whatever the others do.
std::vector<std::string> BarrierHeldOpenByRank3() {
  return RawClient({kInit,
                    {"--rank=0"},
                    kWaitInBarrier,
                    {"--rank=1"},
                    kWaitInBarrier,
                    {"--rank=2"},
                    kWaitInBarrier,
                    {"--rank=3", "sleep:20000"}});
}

class ExecFailureTest : public ::testing::TestWithParam<PmiMode> {
 protected:
  static void SetUpTestSuite() { MakeThisProcessASubreaper(); }

  void SetUp() override {
    PMI_SHIM_REQUIRE_PRIVATE_NETNS();
    bridge_ = testutil::BridgePath();
    raw_client_ = ProgramPath("pmi_raw_client");
  }

  // A fresh directory for the ranks' output files.
  std::string NewOutputDir() {
    const char* tmp = getenv("TEST_TMPDIR");
    std::string dir =
        absl::StrCat(tmp != nullptr ? tmp : "/tmp", "/exec-fault-", testutil::UniqueMarkerValue());
    EXPECT_EQ(mkdir(dir.c_str(), 0755), 0) << dir;
    return dir;
  }

  // True when client.R.out in `dir` holds `text` for every rank in `ranks`.
  static bool ClientsPrinted(const std::string& dir, std::initializer_list<int> ranks,
                             absl::string_view text) {
    for (int rank : ranks) {
      if (!absl::StrContains(ReadFile(absl::StrCat(dir, "/client.", rank, ".out")), text)) {
        return false;
      }
    }
    return true;
  }

  FaultSpec Spec(bool bridge, const std::vector<std::string>& command,
                 const std::string& output_dir) {
    FaultSpec spec;
    spec.job.ranks = kRanks;
    spec.job.mode = GetParam();
    RankWiring wiring;
    wiring.bridge = bridge;
    wiring.output_dir = output_dir;
    spec.job.command = RankCommand(wiring, command);
    spec.job.timeout = kRunLimit;
    return spec;
  }

  // True for rank `rank`'s client (not its bridge, which has the same
  // command line after "exec --").
  std::function<bool(const ProcessInfo&)> ClientOfRank(int rank) {
    return [this, rank](const ProcessInfo& p) { return p.Runs(raw_client_) && p.Rank() == rank; };
  }

  FaultOutcome Inject(const FaultSpec& spec) {
    absl::StatusOr<FaultOutcome> out = RunHydraWithFault(spec);
    EXPECT_OK(out) << " (is the mpich package installed?)";
    return out.ok() ? *std::move(out) : FaultOutcome{};
  }

  // What every run must show: the fault was injected as planned, the job
  // ended non-zero and in time, every bridge (if any) was gone within
  // `bridge_limit` of the kill, and nothing is left. All problems are
  // reported in one failure, with the run described once.
  void ExpectJobEndedAfterFault(const FaultOutcome& out, int bridges, absl::Duration bridge_limit) {
    std::vector<std::string> problems;
    if (!out.became_ready) problems.push_back("the job never reached the phase of the fault");
    if (out.killed.size() != 1) {
      problems.push_back(absl::StrCat("want 1 process to kill, found ", out.killed.size()));
    }
    if (out.run.timed_out) {
      problems.push_back(absl::StrCat("the job hung after the kill (killed by the test at ",
                                      absl::FormatDuration(kRunLimit), ")"));
    } else if (out.run.exit_code == 0) {
      problems.push_back("the job reported success after losing a rank");
    }
    if (!out.launcher_after_kill.has_value() || *out.launcher_after_kill >= kJobEndLimit) {
      problems.push_back(absl::StrCat("mpiexec.hydra did not exit within ",
                                      absl::FormatDuration(kJobEndLimit), " of the kill"));
    }
    if (out.bridges.size() != static_cast<size_t>(bridges)) {
      problems.push_back(absl::StrCat("want ", bridges, " bridges, saw ", out.bridges.size()));
    }
    for (const BridgeEnd& b : out.bridges) {
      if (!b.after_kill.has_value() || *b.after_kill >= bridge_limit) {
        problems.push_back(absl::StrCat("the bridge of rank ", b.rank, " was not gone within ",
                                        absl::FormatDuration(bridge_limit), " of the kill"));
      }
    }
    if (!out.leftovers.empty()) {
      problems.push_back(absl::StrCat(out.leftovers.size(),
                                      " processes still ran after mpiexec.hydra had exited"));
    }
    if (!problems.empty()) {
      ADD_FAILURE() << "- " << absl::StrJoin(problems, "\n- ") << "\n" << out.Describe();
    }
  }

  // Records the figures in the test's XML report.
  void RecordTimings(const std::string& prefix, const FaultOutcome& out) {
    if (out.launcher_after_kill) {
      RecordProperty(prefix + "_launcher_ms",
                     static_cast<int>(absl::ToInt64Milliseconds(*out.launcher_after_kill)));
    }
    absl::Duration slowest = absl::ZeroDuration();
    for (const BridgeEnd& b : out.bridges) {
      if (b.after_kill) slowest = std::max(slowest, *b.after_kill);
    }
    if (!out.bridges.empty()) {
      RecordProperty(prefix + "_slowest_bridge_ms",
                     static_cast<int>(absl::ToInt64Milliseconds(slowest)));
    }
  }

  std::string bridge_;
  std::string raw_client_;
};

// (a) Rank 1's command is killed before it ever connects to its PMI server;
// the other ranks wait in a barrier for it.
TEST_P(ExecFailureTest, CommandKilledBeforePmiInit) {
  const std::vector<std::string> command = RawClient({{"--rank=1", "sleep:20000"},
                                                      {"--rank=0"},
                                                      kInit,
                                                      kWaitInBarrier,
                                                      {"--rank=2"},
                                                      kInit,
                                                      kWaitInBarrier,
                                                      {"--rank=3"},
                                                      kInit,
                                                      kWaitInBarrier});
  for (bool bridge : {false, true}) {
    // No reference in port mode: hydra 4.0.2 -pmi-port sometimes misses a
    // rank SIGKILLed before it connected (about 1 run in 4 here: the job
    // runs on and even exits 0), so it proves nothing there.
    if (!bridge && GetParam() == PmiMode::kPort) continue;
    SCOPED_TRACE(bridge ? "through pmi-bridge exec" : "reference: bare ranks under hydra");
    const std::string dir = NewOutputDir();
    FaultSpec spec = Spec(bridge, command, dir);
    auto victim = ClientOfRank(1);
    spec.ready = [dir, victim](const std::vector<ProcessInfo>& procs) {
      bool victim_running = false;
      for (const ProcessInfo& p : procs) victim_running |= victim(p);
      return victim_running && ClientsPrinted(dir, {0, 2, 3}, "cmd=response_to_init");
    };
    spec.victim = victim;
    FaultOutcome out = Inject(spec);
    ExpectJobEndedAfterFault(out, bridge ? kRanks : 0, kJobEndLimit);
    RecordTimings(bridge ? "bridge" : "reference", out);
  }
}

// (b) Rank 1's command is killed while it waits in a barrier (rank 3 holds
// the barrier open): it dies without finalize, so the job is aborted.
TEST_P(ExecFailureTest, CommandKilledInsideFence) {
  for (bool bridge : {false, true}) {
    SCOPED_TRACE(bridge ? "through pmi-bridge exec" : "reference: bare ranks under hydra");
    const std::string dir = NewOutputDir();
    FaultSpec spec = Spec(bridge, BarrierHeldOpenByRank3(), dir);
    spec.ready = [dir](const std::vector<ProcessInfo>&) {
      return ClientsPrinted(dir, {0, 1, 2, 3}, "cmd=response_to_init");
    };
    spec.victim = ClientOfRank(1);
    FaultOutcome out = Inject(spec);
    ExpectJobEndedAfterFault(out, bridge ? kRanks : 0, kBridgeExitLimit);
    RecordTimings(bridge ? "bridge" : "reference", out);
  }
}

// (c) Every rank finalizes; rank 1 then lingers and is killed, the others
// exit 0 a second later. The job's status must say that a rank was killed,
// exactly as hydra reports it for a bare rank (it reports the signal, 9).
// (The others do not linger too: whether hydra 4.0.2 ends a job at once when
// a rank that already finalized is killed varies from run to run, bare or
// bridged; about one run in four it waits for the other ranks.)
TEST_P(ExecFailureTest, CommandKilledAfterFinalize) {
  const std::vector<std::string> command =
      RawClient({kInit,
                 {"send:cmd=barrier_in\\n", "recv", "send:cmd=finalize\\n", "recv", "--rank=1",
                  "sleep:20000", "--rank=*", "sleep:1000"}});
  std::optional<int> reference_exit;
  for (bool bridge : {false, true}) {
    SCOPED_TRACE(bridge ? "through pmi-bridge exec" : "reference: bare ranks under hydra");
    const std::string dir = NewOutputDir();
    FaultSpec spec = Spec(bridge, command, dir);
    spec.ready = [dir](const std::vector<ProcessInfo>&) {
      return ClientsPrinted(dir, {0, 1, 2, 3}, "cmd=finalize_ack");
    };
    spec.victim = ClientOfRank(1);
    FaultOutcome out = Inject(spec);
    ExpectJobEndedAfterFault(out, bridge ? kRanks : 0, kJobEndLimit);
    if (!bridge) {
      reference_exit = out.run.exit_code;
    } else if (reference_exit.has_value()) {
      EXPECT_EQ(out.run.exit_code, *reference_exit)
          << "hydra saw another status for the killed rank through the bridge than for the bare "
             "rank (a SIGKILLed command must look SIGKILLed to the launcher, not like exit(137))\n"
          << out.Describe();
    }
    RecordTimings(bridge ? "bridge" : "reference", out);
  }
}

// (d) Rank 1's bridge itself is killed while the ranks wait in a barrier:
// hydra sees a rank die and ends the job; the bridge's command must not
// survive its bridge.
TEST_P(ExecFailureTest, BridgeKilledMidJob) {
  const std::string dir = NewOutputDir();
  FaultSpec spec = Spec(true, BarrierHeldOpenByRank3(), dir);
  spec.ready = [dir](const std::vector<ProcessInfo>&) {
    return ClientsPrinted(dir, {0, 1, 2, 3}, "cmd=response_to_init");
  };
  const std::string bridge = bridge_;
  spec.victim = [bridge](const ProcessInfo& p) { return p.Runs(bridge) && p.Rank() == 1; };
  FaultOutcome out = Inject(spec);
  ExpectJobEndedAfterFault(out, kRanks, kBridgeExitLimit);
  RecordTimings("bridge", out);
}

// (e) The upstream dies: hydra_pmi_proxy (every rank's PMI server) is killed
// while the ranks wait in a barrier. Every bridge must notice, end its
// command and exit non-zero within 2 s with one line
// "pmi-bridge: rank R: ...". Its stderr goes to a file: the pipe to the dead
// proxy would swallow the line.
TEST_P(ExecFailureTest, UpstreamKilledWhileRanksWaitInBarrier) {
  const std::string dir = NewOutputDir();
  FaultSpec spec = Spec(true, BarrierHeldOpenByRank3(), dir);
  spec.ready = [dir](const std::vector<ProcessInfo>&) {
    return ClientsPrinted(dir, {0, 1, 2, 3}, "cmd=response_to_init");
  };
  spec.victim = [](const ProcessInfo& p) { return p.Runs("hydra_pmi_proxy"); };
  FaultOutcome out = Inject(spec);
  ExpectJobEndedAfterFault(out, kRanks, kBridgeExitLimit);
  for (const BridgeEnd& b : out.bridges) {
    SCOPED_TRACE(absl::StrCat("bridge of rank ", b.rank));
    // Orphaned by the proxy, the bridges are reaped by this process, unless
    // one was quicker than the proxy's death (seen once under load: gone in
    // 91 us, its status collected by nobody here). Its stderr line below is
    // checked either way.
    if (b.wait_status.has_value()) {
      EXPECT_TRUE(WIFEXITED(*b.wait_status) && WEXITSTATUS(*b.wait_status) != 0)
          << "want a non-zero exit, not success or a crash\n"
          << out.Describe();
    }
    const std::string err = ReadFile(absl::StrCat(dir, "/bridge.", b.rank, ".err"));
    std::vector<std::string> lines = Lines(err);
    ASSERT_EQ(lines.size(), 1u) << "want exactly one line, got:\n" << err;
    EXPECT_TRUE(absl::StartsWith(lines[0], absl::StrCat("pmi-bridge: rank ", b.rank, ": ")))
        << lines[0];
  }
  RecordTimings("bridge", out);
}

INSTANTIATE_TEST_SUITE_P(Modes, ExecFailureTest, ::testing::Values(PmiMode::kFd, PmiMode::kPort),
                         [](const ::testing::TestParamInfo<PmiMode>& info) {
                           return ModeName(info.param);
                         });

}  // namespace
}  // namespace pmi_shim::e2e
