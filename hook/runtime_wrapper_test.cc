#include "hook/runtime_wrapper.h"

#include "hook/admin_config.h"
#include "test/testing/status_matchers.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <cstdlib>
#include <fstream>
#include <sstream>

namespace pmi_shim::hook {
namespace {

using nlohmann::json;
using ::testing::ElementsAre;

TEST(ParseRuntimeArgs, ContainerdShimCreate) {
  const RuntimeCall call = ParseRuntimeArgs(
      {"--root", "/var/run/docker/runtime-runc/moby", "--log", "/run/c/log.json", "--log-format",
       "json", "create", "--bundle", "/run/c/b", "--pid-file", "/run/c/init.pid", "abc123"});
  EXPECT_EQ(call.subcommand, "create");
  EXPECT_EQ(call.bundle, "/run/c/b");
  EXPECT_EQ(call.container_id, "abc123");
  EXPECT_EQ(call.log_path, "/run/c/log.json");
  EXPECT_EQ(call.log_format, "json");
  EXPECT_TRUE(CreatesContainer(call));
}

TEST(ParseRuntimeArgs, OptionSpellings) {
  RuntimeCall call = ParseRuntimeArgs({"--root=/r", "--systemd-cgroup", "--debug", "create", "-b",
                                       "/b", "--console-socket", "/s", "--no-pivot", "id"});
  EXPECT_EQ(call.subcommand, "create");
  EXPECT_EQ(call.bundle, "/b");
  EXPECT_EQ(call.container_id, "id");
  call = ParseRuntimeArgs({"-root", "/r", "run", "--bundle=/b2", "-d", "id2"});
  EXPECT_EQ(call.subcommand, "run");
  EXPECT_EQ(call.bundle, "/b2");
  EXPECT_EQ(call.container_id, "id2");
  call = ParseRuntimeArgs({"create", "id3"});  // bundle = current directory
  EXPECT_EQ(call.bundle, "");
  EXPECT_EQ(call.container_id, "id3");
}

TEST(ParseRuntimeArgs, OtherSubcommandsPassThrough) {
  const std::vector<std::string> global = {"--root", "/r", "--log", "/l", "--log-format", "json"};
  for (const char* sub : {"start", "delete", "state", "kill", "features"}) {
    std::vector<std::string> args = global;
    args.push_back(sub);
    args.push_back("--force");
    args.push_back("id");
    const RuntimeCall call = ParseRuntimeArgs(args);
    EXPECT_EQ(call.subcommand, sub);
    EXPECT_FALSE(CreatesContainer(call)) << sub;
    EXPECT_EQ(call.bundle, "");
  }
  EXPECT_EQ(ParseRuntimeArgs({"--version"}).subcommand, "");
  EXPECT_EQ(ParseRuntimeArgs({}).subcommand, "");
  EXPECT_EQ(ParseRuntimeArgs({"--root"}).subcommand, "");
}

Plan SamplePlan() {
  Plan plan;
  plan.mounts.push_back({"/tmp/pmi/0", "/run/pmi-shim", MountStep::Kind::kDirectory, true, ""});
  plan.mounts.push_back({"/opt/p", "/opt/pmi-shim", MountStep::Kind::kDirectory, true, ""});
  plan.mounts.push_back({"/tmp/t", "/tmp/t", MountStep::Kind::kDirectory, false, ""});
  plan.relays.push_back({"127.0.0.1", 5000, ""});
  plan.env = {"PMIX_GDS_MODULE=hash"};
  return plan;
}

constexpr char kConfigIn[] = R"({
  "ociVersion": "1.0.2",
  "process": {"args": ["/app", "x"], "env": ["PATH=/bin", "PMI_SHIM_DIR=/tmp/pmi/0",
                                           "PMIX_GDS_MODULE=ds21,ds12,hash"]},
  "root": {"path": "rootfs"},
  "mounts": [{"destination": "/proc", "type": "proc", "source": "proc"}],
  "hooks": {"prestart": [{"path": "/usr/bin/other"}]}
})";

constexpr char kConfigOut[] = R"({
  "ociVersion": "1.0.2",
  "process": {"args": ["/opt/pmi-shim/bin/pmi-shim-client", "exec", "--", "/app", "x"],
              "env": ["PATH=/bin", "PMI_SHIM_DIR=/tmp/pmi/0", "PMIX_GDS_MODULE=hash"]},
  "root": {"path": "rootfs"},
  "mounts": [
    {"destination": "/proc", "type": "proc", "source": "proc"},
    {"destination": "/run/pmi-shim", "type": "bind", "source": "/tmp/pmi/0",
     "options": ["bind", "nosuid", "nodev", "ro"]},
    {"destination": "/opt/pmi-shim", "type": "bind", "source": "/opt/p",
     "options": ["bind", "nosuid", "nodev", "ro"]},
    {"destination": "/tmp/t", "type": "bind", "source": "/tmp/t",
     "options": ["bind", "nosuid", "nodev"]}
  ],
  "hooks": {
    "prestart": [{"path": "/usr/bin/other"}],
    "createRuntime": [{"path": "/x/bin/pmi-shim-hook",
                       "args": ["/x/bin/pmi-shim-hook", "--config", "/etc/h.json", "createRuntime"]}],
    "poststop": [{"path": "/x/bin/pmi-shim-hook",
                  "args": ["/x/bin/pmi-shim-hook", "--config", "/etc/h.json", "poststop"]}]
  }
})";

TEST(EditConfigForPlan, Golden) {
  const ConfigEditOptions options{"/x/bin/pmi-shim-hook", "/etc/h.json", true};
  const ConfigEdit edit = EditConfigForPlan(json::parse(kConfigIn), SamplePlan(), options);
  EXPECT_EQ(edit.config, json::parse(kConfigOut)) << edit.config.dump(2);
  EXPECT_THAT(
      edit.changes,
      ElementsAre("+ mounts: /tmp/pmi/0 -> /run/pmi-shim (bind,nosuid,nodev,ro)",
                  "+ mounts: /opt/p -> /opt/pmi-shim (bind,nosuid,nodev,ro)",
                  "+ mounts: /tmp/t -> /tmp/t (bind,nosuid,nodev)",
                  "+ hooks.createRuntime: /x/bin/pmi-shim-hook --config /etc/h.json "
                  "createRuntime",
                  "+ hooks.poststop: /x/bin/pmi-shim-hook --config /etc/h.json poststop",
                  "~ process.env: PMIX_GDS_MODULE=ds21,ds12,hash -> PMIX_GDS_MODULE=hash",
                  "~ process.args: [\"/app\",\"x\"] -> "
                  "[\"/opt/pmi-shim/bin/pmi-shim-client\",\"exec\",\"--\",\"/app\",\"x\"]"));
  // Idempotent: a second pass (a retried create) changes nothing.
  const ConfigEdit again = EditConfigForPlan(edit.config, SamplePlan(), options);
  EXPECT_EQ(again.config, edit.config);
  EXPECT_TRUE(again.changes.empty());
}

TEST(EditConfigForPlan, NoRelaysNoHooksNoPrefixWithoutOptIn) {
  Plan plan = SamplePlan();
  plan.relays.clear();
  const ConfigEdit edit = EditConfigForPlan(
      json::parse(kConfigIn), plan, {"/x/bin/pmi-shim-hook", kDefaultAdminConfigPath, false});
  EXPECT_FALSE(edit.config["hooks"].contains("createRuntime"));
  EXPECT_EQ(edit.config["process"]["args"], json::parse(R"(["/app", "x"])"));
}

TEST(EditConfigForPlan, PrefixNeedsTheRankDirAndTheTools) {
  Plan plan;
  plan.mounts.push_back({"/opt/p", "/opt/pmi-shim", MountStep::Kind::kDirectory, true, ""});
  json config = json::parse(R"({"process": {"args": ["/app"], "env": ["PMIX_SERVER_URI4=x"]},
                                "root": {"path": "r"}})");
  ConfigEdit edit = EditConfigForPlan(config, plan, {"/h", "", true});
  EXPECT_EQ(edit.config["process"]["args"], json::parse(R"(["/app"])"));  // no PMI_SHIM_DIR
  config["process"]["env"].push_back("PMI_SHIM_DIR=/tmp/r");
  edit = EditConfigForPlan(config, Plan(), {"/h", "", true});
  EXPECT_EQ(edit.config["process"]["args"], json::parse(R"(["/app"])"));  // no tools mount
  edit = EditConfigForPlan(config, plan, {"/h", "", true});
  EXPECT_EQ(edit.config["process"]["args"][0], kClientPath);
}

TEST(ReplaceFileAtomically, KeepsModeAndReplacesContent) {
  const std::string path = std::string(std::getenv("TEST_TMPDIR")) + "/config.json";
  std::ofstream(path) << "old";
  chmod(path.c_str(), 0640);
  ASSERT_OK(ReplaceFileAtomically(path, "{\"new\": true}\n"));
  std::stringstream text;
  text << std::ifstream(path).rdbuf();
  EXPECT_EQ(text.str(), "{\"new\": true}\n");
  struct stat info {};
  ASSERT_EQ(stat(path.c_str(), &info), 0);
  EXPECT_EQ(info.st_mode & 07777, 0640u);
  EXPECT_FALSE(ReplaceFileAtomically(path + ".missing", "x").ok());
}

}  // namespace
}  // namespace pmi_shim::hook
