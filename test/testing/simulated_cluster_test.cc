// ClassifyStall on a recorded stall of a real 4-rank MPICH 4.0.2 job across
// two simulated nodes (testdata/mpich_ucx_finalize_stall.txt, gdb backtraces
// taken by cluster-ns.sh), and on variants that must not be excused.
#include <string>

#include "absl/strings/str_replace.h"
#include "gtest/gtest.h"
#include "test/testing/files.h"
#include "test/testing/runfiles.h"
#include "test/testing/simulated_cluster.h"

namespace pmi_shim::testutil {
namespace {

std::string RecordedStall() {
  absl::StatusOr<std::string> path = Runfile("test/testing/testdata/mpich_ucx_finalize_stall.txt");
  return path.ok() ? ReadFile(*path) : "";
}

TEST(ClassifyStallTest, RecognisesTheMpichUcxFinalizeDeadlock) {
  const std::string stacks = RecordedStall();
  ASSERT_FALSE(stacks.empty());
  EXPECT_EQ(ClassifyStall(stacks, 4), StallKind::kMpichUcxFinalizeDeadlock);
}

TEST(ClassifyStallTest, NeedsEveryRank) {
  EXPECT_EQ(ClassifyStall(RecordedStall(), 5), StallKind::kUnknown);
}

// All ranks waiting in the PMI barrier and none disconnecting is a barrier
// that never completed: the PMI server's fault, never excused.
TEST(ClassifyStallTest, AllRanksInTheBarrierIsNotExcused) {
  const std::string stacks =
      absl::StrReplaceAll(RecordedStall(), {{"ucp_worker_progress", "some_other_frame"}});
  EXPECT_EQ(ClassifyStall(stacks, 4), StallKind::kUnknown);
}

TEST(ClassifyStallTest, RanksOutsideFinalizeAreNotExcused) {
  const std::string stacks = absl::StrReplaceAll(RecordedStall(), {{"PMPI_Finalize", "PMPI_Init"}});
  EXPECT_EQ(ClassifyStall(stacks, 4), StallKind::kUnknown);
  EXPECT_EQ(ClassifyStall("", 4), StallKind::kUnknown);
}

}  // namespace
}  // namespace pmi_shim::testutil
