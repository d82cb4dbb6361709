// Shared pieces of the end-to-end tests; see launch_util.h.
#include "test/e2e/launch_util.h"

#include <cstdlib>
#include <fstream>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "gtest/gtest.h"
#include "test/testing/rank_lines.h"
#include "test/testing/status_matchers.h"

namespace pmi_shim::e2e {

using testutil::Lines;

std::optional<std::string> FindRankError(absl::string_view stderr_text, int rank,
                                         absl::string_view keyword) {
  const std::string prefix = absl::StrCat("pmi-bridge: rank ", rank, ": ");
  for (const std::string& line : Lines(stderr_text)) {
    if (!absl::StartsWith(line, prefix)) continue;
    size_t at = line.find(std::string(keyword), prefix.size());
    if (at == std::string::npos) continue;
    if (line.find("; ", at + keyword.size()) == std::string::npos) continue;
    return line;
  }
  return std::nullopt;
}

std::optional<int> ReplyRc(absl::string_view recv_line) {
  // PMI-1 separates tokens with spaces, PMI-2 with ';'.
  for (absl::string_view token : absl::StrSplit(recv_line, absl::ByAnyChar(" ;"))) {
    int rc = 0;
    if (absl::ConsumePrefix(&token, "rc=") && absl::SimpleAtoi(token, &rc)) {
      return rc;
    }
  }
  return std::nullopt;
}

std::vector<std::string> Replies(absl::string_view stdout_text) {
  std::vector<std::string> replies;
  for (const std::string& line : Lines(stdout_text)) {
    absl::string_view rest = line;
    if (absl::ConsumePrefix(&rest, "recv: ")) replies.emplace_back(rest);
  }
  return replies;
}

// Open MPI names its session directory (TMPDIR/ompi.HOST.UID/pid.PID, with
// its PMIx shared-memory stores) after mpirun's pid, and in Bazel's sandbox
// every test has its own pid namespace: two tests running at once both have
// an mpirun with the same small pid and share /tmp, so one job's MPI_Init
// found the other's stores ("getting local rank failed"). Each test process
// hands its jobs a TMPDIR of its own.
std::string PrivateTmpdir() {
  static const std::string* const dir = [] {
    const char* given = std::getenv("TEST_TMPDIR");
    return new std::string(given != nullptr && *given != '\0' ? given : "/tmp");
  }();
  return *dir;
}

namespace {

// For --config=asan. libpmix 4.2.2 never frees some memory of its own:
// what PMIx_Init and PMIx_server_init allocate (in pmix_rte_init: two small
// strings; in PMIx_server_init: the server's own structures) and what its
// progress thread (a libevent loop inside libpmix; pmi-bridge does not use
// libevent) allocates while serving clients. LeakSanitizer would then fail
// pmi-bridge and pmix_probe at exit (status 23, report on stderr) for leaks
// that no caller can free. The processes these tests start get exactly
// those stacks suppressed, unwound in full (libpmix has no frame pointers:
// the fast unwinder stops at its first frame and could not tell them from a
// value the bridge forgot to release); every other leak still fails the
// test. Binaries built without ASan ignore both variables.
std::vector<std::pair<std::string, std::string>> LibpmixLeakSuppression() {
  static const std::string* const path = [] {
    const char* dir = std::getenv("TEST_TMPDIR");
    auto* file = new std::string(absl::StrCat(dir != nullptr ? dir : "/tmp", "/libpmix-lsan.supp"));
    std::ofstream(*file) << "leak:pmix_rte_init\nleak:PMIx_server_init\nleak:event_base_loop\n";
    return file;
  }();
  auto appended = [](const char* name, const std::string& options) {
    const char* given = std::getenv(name);
    return std::make_pair(std::string(name), given != nullptr && *given != '\0'
                                                 ? absl::StrCat(given, ":", options)
                                                 : options);
  };
  return {appended("ASAN_OPTIONS", "fast_unwind_on_malloc=0"),
          appended("LSAN_OPTIONS", absl::StrCat("suppressions=", *path, ":print_suppressions=0"))};
}

}  // namespace

void AddPmixJobEnv(testutil::JobSpec& spec) {
  for (auto& entry : LibpmixLeakSuppression()) spec.env.push_back(std::move(entry));
  spec.env.emplace_back("TMPDIR", PrivateTmpdir());
}

testutil::JobResult RunOrAddFailure(const testutil::JobSpec& spec) {
  absl::StatusOr<testutil::JobResult> out = testutil::RunJob(spec);
  EXPECT_OK(out) << " (are the mpich and openmpi-bin packages installed?)";
  if (out.ok()) return *std::move(out);
  testutil::JobResult failed;
  failed.run.stderr_text = std::string(out.status().message());
  return failed;
}

}  // namespace pmi_shim::e2e
