// design.md §6: the hook decides from config.json only, and nothing it
// starts inherits its own environment. Run as runc would run it
// (createRuntime, state on stdin) against a stand-in container (a process in
// fresh mount and network namespaces), with the hook's own environment full
// of what would ask for pmi-shim were the hook to read it.
//
// What a decision leaves behind is observed three ways: the admin log file
// (a "container ID: why" line for every container the hook acts on), the
// mounts in the container's namespace, and the applied-record. The control
// tests show each observation does see a decision when config.json asks.
//
// LD_PRELOAD: the shipped hook is static, so the loader never reads it for
// the hook itself. What the rule protects is what the hook starts (its relay
// daemons). A dynamic build of the same hook proves it: a marker library
// named by LD_PRELOAD records every process that loads it; the hook itself
// must load it (the control: the build is dynamic and the loader honours
// LD_PRELOAD) and its relay must not, nor see any variable but PATH.
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "hook/apply/container_fixture.h"
#include "test/testing/files.h"
#include "test/testing/netns_test_main.h"
#include "test/testing/runfiles.h"
#include "test/testing/status_matchers.h"
#include "test/testing/subprocess.h"

namespace pmi_shim::hook {
namespace {

using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;
using testutil::ReadFile;
using testutil::RunResult;

constexpr char kSafePath[] = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

bool Exists(const std::string& path) {
  struct stat info;
  return ::lstat(path.c_str(), &info) == 0;
}

// Running (a zombie waiting for its reaper has ended: only its pid is left).
bool ProcessAlive(pid_t pid) {
  if (::kill(pid, 0) != 0) return false;
  const std::string stat = ReadFile(absl::StrCat("/proc/", pid, "/stat"));
  const size_t state = stat.rfind(')');
  return state == std::string::npos || state + 2 >= stat.size() || stat[state + 2] != 'Z';
}

class OwnEnvironmentTest : public ::testing::Test {
 protected:
  void SetUp() override {
    PMI_SHIM_REQUIRE_PRIVATE_NETNS();
    if (::geteuid() != 0) GTEST_SKIP() << "needs root (mount namespaces, as runc runs the hook)";
    ASSERT_TRUE(holder_.ok());
    root_ = testing::MakeTempDir("pmi-hookenv-");
    ASSERT_FALSE(root_.empty());
    bundle_ = root_ + "/bundle";
    rank_ = root_ + "/rank";
    for (const std::string& dir :
         {bundle_, bundle_ + "/rootfs", bundle_ + "/rootfs/run", bundle_ + "/rootfs/run/pmi-shim",
          bundle_ + "/rootfs/opt", bundle_ + "/rootfs/opt/pmi-shim", rank_, root_ + "/state",
          root_ + "/tools", root_ + "/tools/bin"}) {
      ASSERT_EQ(::mkdir(dir.c_str(), 0755), 0) << dir;
    }
    // With a tools directory, any container the hook acts on gets a mount:
    // a decision it should not have made cannot stay invisible.
    std::ofstream(root_ + "/tools/bin/pmi-shim-client") << "#!/bin/sh\n";
    ::chmod((root_ + "/tools/bin/pmi-shim-client").c_str(), 0755);
    admin_ = root_ + "/hook.json";
    log_ = root_ + "/hook-log.json";
    std::ofstream(admin_) << R"({"allowed_dirs": [")" << root_ << R"("], "tools_dir": ")" << root_
                          << R"(/tools", "log_file": ")" << log_ << R"(", "state_dir": ")" << root_
                          << R"(/state"})";
  }
  void TearDown() override {
    holder_.Stop();
    if (!root_.empty()) testing::RemoveTree(root_);
  }

  void WriteConfig(const std::vector<std::string>& env) {
    std::string list;
    for (const std::string& entry : env)
      absl::StrAppend(&list, list.empty() ? "" : ", ", "\"", entry, "\"");
    std::ofstream(bundle_ + "/config.json")
        << R"({"root": {"path": "rootfs"}, "process": {"args": ["/app"], "env": [)" << list
        << R"(]}, "linux": {"namespaces": [{"type": "mount"}, {"type": "network"}]}})";
  }

  // Everything that would ask for pmi-shim (or point it somewhere) were the
  // hook to read its own environment.
  std::vector<std::pair<std::string, std::string>> HostileEnvironment() const {
    return {{"PMI_SHIM", "1"},
            {"PMI_SHIM_DIR", rank_},
            {"PMI_PORT", "127.0.0.1:7000"},
            {"PMI_FD", "3"},
            {"PMI_RANK", "0"},
            {"PMI_SIZE", "2"},
            {"PMIX_SERVER_URI41", "prterun.0;tcp4://127.0.0.1:7001"},
            {"PMIX_SERVER_URI4", "prterun.0;tcp4://127.0.0.1:7001"},
            {"PMIX_NAMESPACE", "prterun-1@1"},
            {"PMIX_RANK", "0"},
            {"SLURM_STEP_ID", "0"}};
  }

  // `hook STAGE` with the state on stdin and `env` added to its environment.
  RunResult RunStage(const std::string& hook, const std::string& stage, const std::string& id,
                     std::vector<std::pair<std::string, std::string>> env) {
    const std::string state_file = root_ + "/state-" + id + ".json";
    std::ofstream(state_file) << R"({"ociVersion": "1.0.2", "id": ")" << id
                              << R"(", "status": "created", "pid": )" << holder_.pid()
                              << R"(, "bundle": ")" << bundle_ << R"("})";
    testutil::RunOptions options;
    // exec: the shell must not stay between, nor load a preloaded library
    // in a process named pmi-shim-hook.
    options.argv = {"/bin/sh", "-c",   "exec \"$0\" --config \"$1\" \"$2\" < \"$3\"",
                    hook,      admin_, stage,
                    state_file};
    options.env = std::move(env);
    options.timeout = absl::Seconds(20);
    absl::StatusOr<RunResult> result = testutil::RunSubprocess(options);
    EXPECT_OK(result);
    return result.ok() ? *result : RunResult();
  }

  std::vector<std::string> LogLinesAbout(const std::string& id) const {
    std::vector<std::string> lines;
    for (absl::string_view line : absl::StrSplit(ReadFile(log_), '\n', absl::SkipEmpty())) {
      if (absl::StrContains(line, absl::StrCat("container ", id))) lines.emplace_back(line);
    }
    return lines;
  }

  std::vector<std::string> MountsInContainer() const {
    std::vector<std::string> points;
    for (const testing::MountEntry& entry : testing::MountsUnder(holder_.pid(), root_)) {
      points.push_back(entry.mount_point);
    }
    return points;
  }

  std::string Record(const std::string& id) const { return root_ + "/state/" + id + ".json"; }

  std::string StaticHook() const {
    absl::StatusOr<std::string> bin = testutil::Runfile("hook/pmi-shim-hook");
    EXPECT_OK(bin);
    return bin.ok() ? *bin : "";
  }

  testing::NamespaceHolder holder_;
  std::string root_, bundle_, rank_, admin_, log_;
};

TEST_F(OwnEnvironmentTest, TheHooksOwnEnvironmentNeverDecides) {
  WriteConfig({"PATH=/bin", "HOME=/root"});  // the container asks for nothing
  RunResult result = RunStage(StaticHook(), "createRuntime", "c-quiet", HostileEnvironment());
  EXPECT_EQ(result.exit_code, 0) << result.Describe();
  EXPECT_EQ(result.stderr_text, "");
  EXPECT_THAT(LogLinesAbout("c-quiet"), IsEmpty()) << "the hook acted on a container that did "
                                                      "not ask, moved by its own environment";
  EXPECT_THAT(MountsInContainer(), IsEmpty());
  EXPECT_FALSE(Exists(Record("c-quiet")));
}

// The control: with config.json asking, under the same environment, every
// observation above sees the decision.
TEST_F(OwnEnvironmentTest, ControlConfigJsonDecidesAndEveryObservationSeesIt) {
  WriteConfig({"PATH=/bin", "PMI_SHIM_DIR=" + rank_});
  RunResult result = RunStage(StaticHook(), "createRuntime", "c-asks", HostileEnvironment());
  ASSERT_EQ(result.exit_code, 0) << result.Describe();
  const std::string lines = absl::StrJoin(LogLinesAbout("c-asks"), "\n");
  EXPECT_THAT(lines, HasSubstr("container c-asks: process.env has PMI_SHIM_DIR (auto)"));
  EXPECT_THAT(lines, HasSubstr("applied 2 mount(s), 0 relay(s)"));
  EXPECT_THAT(MountsInContainer(),
              ::testing::UnorderedElementsAre(bundle_ + "/rootfs/run/pmi-shim",
                                              bundle_ + "/rootfs/opt/pmi-shim"));
  EXPECT_TRUE(Exists(Record("c-asks")));
  result = RunStage(StaticHook(), "poststop", "c-asks", {});
  EXPECT_EQ(result.exit_code, 0) << result.Describe();
  EXPECT_FALSE(Exists(Record("c-asks")));
}

// Runtime mode (Docker's daemon.json): the hook edits config.json before
// running the real runtime, and passes its own environment on to that
// runtime untouched; what it edits depends on config.json alone.
TEST_F(OwnEnvironmentTest, RuntimeModeEditsNothingForAContainerThatDoesNotAsk) {
  auto run_runtime = [&](const std::string& id) {
    testutil::RunOptions options;
    options.argv = {StaticHook(), "runtime", "--config", admin_,  "--runtime", "/bin/true",
                    "--",         "create",  "--bundle", bundle_, id};
    options.env = HostileEnvironment();
    options.timeout = absl::Seconds(20);
    absl::StatusOr<RunResult> result = testutil::RunSubprocess(options);
    EXPECT_OK(result);
    return result.ok() ? *result : RunResult();
  };
  WriteConfig({"PATH=/bin"});
  const std::string quiet = ReadFile(bundle_ + "/config.json");
  RunResult result = run_runtime("c-runtime-quiet");
  EXPECT_EQ(result.exit_code, 0) << result.Describe();
  EXPECT_EQ(ReadFile(bundle_ + "/config.json"), quiet) << "config.json was edited";
  EXPECT_THAT(LogLinesAbout("c-runtime-quiet"), IsEmpty());

  // The control: the same run edits a config.json that asks.
  WriteConfig({"PATH=/bin", "PMI_SHIM_DIR=" + rank_});
  const std::string asks = ReadFile(bundle_ + "/config.json");
  result = run_runtime("c-runtime-asks");
  EXPECT_EQ(result.exit_code, 0) << result.Describe();
  EXPECT_NE(ReadFile(bundle_ + "/config.json"), asks) << "the control was not edited either";
}

class PreloadTest : public OwnEnvironmentTest {
 protected:
  void SetUp() override {
    OwnEnvironmentTest::SetUp();
    if (IsSkipped() || HasFatalFailure()) return;
    absl::StatusOr<std::string> bin = testutil::Runfile("hook/pmi-shim-hook-dynamic");
    ASSERT_OK(bin);
    dynamic_hook_ = *bin;
    library_ = root_ + "/marker.so";
    // Records, in loaded.PID, the command line of every pmi-shim-hook process
    // that loads it.
    std::ofstream(root_ + "/marker.c")
        << "#include <stdio.h>\n#include <string.h>\n#include <unistd.h>\n"
        << "__attribute__((constructor)) static void mark(void) {\n"
        << "  char self[4096] = {0}, path[4200], args[4096] = {0};\n"
        << "  readlink(\"/proc/self/exe\", self, sizeof(self) - 1);\n"
        << "  if (!strstr(self, \"pmi-shim-hook\")) return;\n"
        << "  FILE* in = fopen(\"/proc/self/cmdline\", \"r\");\n"
        << "  size_t n = in ? fread(args, 1, sizeof(args) - 1, in) : 0; if (in) fclose(in);\n"
        << "  for (size_t i = 0; i < n; ++i) if (!args[i]) args[i] = ' ';\n"
        << "  snprintf(path, sizeof(path), \"" << root_ << "/loaded.%d\", (int)getpid());\n"
        << "  FILE* out = fopen(path, \"w\"); if (out) { fputs(args, out); fclose(out); } }\n";
    testutil::RunOptions compile;
    compile.argv = {"cc", "-shared", "-fPIC", "-o", library_, root_ + "/marker.c"};
    absl::StatusOr<RunResult> built = testutil::RunSubprocess(compile);
    ASSERT_TRUE(built.ok() && built->exit_code == 0) << "cc is needed to build the marker";
  }

  // pid -> command line of the processes that loaded the marker.
  std::map<pid_t, std::string> Loaders() const {
    std::map<pid_t, std::string> loaders;
    for (const std::string& entry : testing::ListTree(root_)) {  // "/loaded.PID", ...
      if (!absl::StartsWith(entry, "/loaded.")) continue;
      loaders[std::atoi(entry.c_str() + 8)] = ReadFile(root_ + entry);
    }
    return loaders;
  }

  std::string dynamic_hook_, library_;
};

TEST_F(PreloadTest, NothingTheHookStartsSeesItsEnvironmentOrTheContainersLdPreload) {
  // The container asks for a relay of PMI_PORT into its network namespace,
  // and names the marker in its own LD_PRELOAD (data for the app, never for
  // the hook).
  WriteConfig({"PATH=/bin", "PMI_PORT=127.0.0.1:5131", "LD_PRELOAD=" + library_});
  std::vector<std::pair<std::string, std::string>> env = HostileEnvironment();
  env.emplace_back("LD_PRELOAD", library_);
  // A sanitizer build's runtime otherwise refuses to start after a preload.
  env.emplace_back("ASAN_OPTIONS", "verify_asan_link_order=0");
  RunResult result = RunStage(dynamic_hook_, "createRuntime", "c-relay", env);
  ASSERT_EQ(result.exit_code, 0) << result.Describe();
  EXPECT_THAT(absl::StrJoin(LogLinesAbout("c-relay"), "\n"),
              HasSubstr("applied 1 mount(s), 1 relay(s)"));

  const std::string record = ReadFile(Record("c-relay"));
  const size_t at = record.find("\"pid\":", record.find("\"relays\""));
  ASSERT_NE(at, std::string::npos) << record;
  const pid_t relay = std::atoi(record.c_str() + at + 6);
  ASSERT_GT(relay, 0) << record;
  ASSERT_TRUE(ProcessAlive(relay));
  EXPECT_THAT(ReadFile(absl::StrCat("/proc/", relay, "/cmdline")), HasSubstr("relay"));
  std::string environ_text = ReadFile(absl::StrCat("/proc/", relay, "/environ"));
  std::replace(environ_text.begin(), environ_text.end(), '\0', '\n');
  EXPECT_EQ(environ_text, absl::StrCat(kSafePath, "\n")) << "the relay inherited more than PATH";

  // The control: the createRuntime process itself loaded the marker.
  const std::map<pid_t, std::string> loaders = Loaders();
  bool hook_loaded = false;
  for (const auto& [pid, args] : loaders) {
    EXPECT_THAT(args, Not(HasSubstr(" relay "))) << "the relay (pid " << pid << ") loaded "
                                                 << "a library named by an LD_PRELOAD";
    if (absl::StrContains(args, "createRuntime")) hook_loaded = true;
  }
  EXPECT_TRUE(hook_loaded) << "the marker was not loaded by the dynamic hook itself: this test "
                              "cannot see a preload (loaders: "
                           << loaders.size()
                           << "; files: " << absl::StrJoin(testing::ListTree(root_), " ") << ")";
  EXPECT_EQ(loaders.count(relay), 0u);

  result = RunStage(StaticHook(), "poststop", "c-relay", {});
  EXPECT_EQ(result.exit_code, 0) << result.Describe();
  EXPECT_FALSE(ProcessAlive(relay));
  EXPECT_FALSE(Exists(Record("c-relay")));
}

}  // namespace
}  // namespace pmi_shim::hook
