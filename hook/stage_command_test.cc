// The hook stage with stub appliers (the real ones are hook/apply's and are
// tested there): what reaches ApplyPlan/CleanupContainer, and what does not.
#include "hook/stage_command.h"

#include <fcntl.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>

namespace pmi_shim::hook {
namespace {

using ::testing::ElementsAre;

class StageCommandTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = std::string(std::getenv("TEST_TMPDIR")) + "/" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name();
    mkdir(root_.c_str(), 0755);
    mkdir((root_ + "/bundle").c_str(), 0755);
    mkdir((root_ + "/rank").c_str(), 0755);
    admin_ = root_ + "/hook.json";
    std::ofstream(admin_) << R"({"allowed_dirs": [")" << root_
                          << R"("], "tools_dir": "", "state_dir": "/nonexistent/state"})";
    appliers_.apply = [this](const Plan& plan, const AdminConfig& admin) {
      applied_.push_back(plan.container_id + " " + admin.state_dir);
      last_plan_ = plan;
      return apply_result_;
    };
    appliers_.cleanup = [this](const std::string& id, const AdminConfig&) {
      cleaned_.push_back(id);
      return absl::OkStatus();
    };
  }

  void WriteConfig(const std::string& env_json) {
    std::ofstream(root_ + "/bundle/config.json")
        << R"({"root": {"path": "rootfs"}, "process": {"env": )" << env_json
        << R"(}, "linux": {"namespaces": [{"type": "network"}]}})";
  }

  int Run(const std::string& stage, const std::string& state) {
    const std::string state_path = root_ + "/state.json";
    std::ofstream(state_path) << state;
    int fd = open(state_path.c_str(), O_RDONLY);
    int status = RunStageCommand({"--config", admin_, stage}, fd, appliers_);
    close(fd);
    return status;
  }

  std::string State() const {
    return R"({"ociVersion": "1.0.2", "id": "c1", "pid": 77, "bundle": ")" + root_ + R"(/bundle"})";
  }

  std::string root_, admin_;
  Appliers appliers_;
  std::vector<std::string> applied_, cleaned_;
  absl::Status apply_result_;
  Plan last_plan_;
};

TEST_F(StageCommandTest, NotAskedTouchesNothing) {
  WriteConfig(R"(["PATH=/bin"])");
  EXPECT_EQ(Run("createRuntime", State()), 0);
  EXPECT_TRUE(applied_.empty());
  EXPECT_TRUE(cleaned_.empty());
}

TEST_F(StageCommandTest, AskedAppliesThePlan) {
  WriteConfig(R"(["PMI_SHIM_DIR=)" + root_ + R"(/rank", "PMI_PORT=127.0.0.1:6000"])");
  for (const char* stage : {"createRuntime", "prestart", "createContainer"}) {
    applied_.clear();
    EXPECT_EQ(Run(stage, State()), 0) << stage;
    EXPECT_THAT(applied_, ElementsAre("c1 /nonexistent/state")) << stage;
  }
  ASSERT_EQ(last_plan_.mounts.size(), 1u);
  EXPECT_EQ(last_plan_.mounts[0].source, root_ + "/rank");
  EXPECT_EQ(last_plan_.netns_path, "/proc/77/ns/net");
  ASSERT_EQ(last_plan_.relays.size(), 1u);
  EXPECT_EQ(last_plan_.relays[0].port, 6000);
}

TEST_F(StageCommandTest, FailuresExitOne) {
  WriteConfig(R"(["PMI_SHIM_DIR=/etc"])");
  EXPECT_EQ(Run("createRuntime", State()), 1);  // refused by policy
  WriteConfig(R"(["PMI_SHIM=1", "PMI_PORT=127.0.0.1:6000"])");
  apply_result_ = absl::InternalError("mount failed");
  EXPECT_EQ(Run("createRuntime", State()), 1);
  EXPECT_EQ(applied_.size(), 1u);
  EXPECT_EQ(Run("createRuntime", "{\"id\":"), 1);  // truncated state
  EXPECT_EQ(Run("createRuntime", R"({"id": "c", "bundle": "/nonexistent/b"})"), 1);
  std::ofstream(root_ + "/bundle/config.json") << "[garbage";
  EXPECT_EQ(Run("createRuntime", State()), 1);
}

TEST_F(StageCommandTest, PoststopCleansUpEvenWithoutConfig) {
  EXPECT_EQ(Run("poststop", R"({"id": "gone", "bundle": "/nonexistent/b", "status": "stopped"})"),
            0);
  EXPECT_THAT(cleaned_, ElementsAre("gone"));
  EXPECT_TRUE(applied_.empty());
}

TEST_F(StageCommandTest, BadCommandLines) {
  EXPECT_EQ(RunStageCommand({}, -1, appliers_), 2);
  EXPECT_EQ(RunStageCommand({"start"}, -1, appliers_), 2);
  EXPECT_EQ(RunStageCommand({"createRuntime", "poststop"}, -1, appliers_), 2);
  EXPECT_EQ(RunStageCommand({"--help"}, -1, appliers_), 0);
  EXPECT_EQ(RunStageCommand({"--config", "/nonexistent/h.json", "poststop"},
                            open("/dev/null", O_RDONLY), appliers_),
            1);
}

}  // namespace
}  // namespace pmi_shim::hook
