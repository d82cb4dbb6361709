#include "hook/oci_config.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>

#include "hook/json_input.h"
#include "hook/paths.h"
#include "test/testing/status_matchers.h"

namespace pmi_shim::hook {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

constexpr char kConfig[] = R"({
  "ociVersion": "1.0.2",
  "process": {"user": {"uid": 1000, "gid": 100}, "args": ["app", "-x"],
              "env": ["PATH=/bin", "PMI_SHIM_DIR=/tmp/r/0", "EMPTY="]},
  "root": {"path": "rootfs"},
  "annotations": {"org.pmi-shim.enable": "true"},
  "mounts": [{"destination": "/proc", "type": "proc", "source": "proc"}],
  "linux": {"namespaces": [{"type": "pid"}, {"type": "network", "path": "/run/netns/x"}]}
})";

TEST(ParseConfig, ReadsTheFieldsTheHookUses) {
  absl::StatusOr<ContainerConfig> config = ParseConfig(kConfig, "config.json", "/b/1");
  ASSERT_OK(config);
  EXPECT_THAT(config->args, ElementsAre("app", "-x"));
  EXPECT_EQ(config->uid, 1000u);
  EXPECT_EQ(config->gid, 100u);
  EXPECT_EQ(config->rootfs, "/b/1/rootfs");
  EXPECT_EQ(config->annotations.at("org.pmi-shim.enable"), "true");
  EXPECT_TRUE(config->network_namespace);
  EXPECT_EQ(config->network_namespace_path, "/run/netns/x");
  ASSERT_EQ(config->mounts.size(), 1u);
  EXPECT_EQ(config->mounts[0].destination, "/proc");
  EXPECT_EQ(EnvValue(config->env, "PMI_SHIM_DIR"), "/tmp/r/0");
  bool found = false;
  EXPECT_EQ(EnvValue(config->env, "EMPTY", &found), "");
  EXPECT_TRUE(found);
  EnvValue(config->env, "PMI_SHIM", &found);  // a prefix of a name is not the name
  EXPECT_FALSE(found);
}

TEST(ParseConfig, RootPathRelativeAbsoluteAndEscaping) {
  auto rootfs = [](const std::string& path) {
    return ParseConfig(R"({"root": {"path": ")" + path + R"("}})", "c", "/b").value().rootfs;
  };
  EXPECT_EQ(rootfs("rootfs"), "/b/rootfs");
  EXPECT_EQ(rootfs("./x/../rootfs/"), "/b/rootfs");
  EXPECT_EQ(rootfs("/abs/root"), "/abs/root");
  EXPECT_EQ(rootfs("../../../r"), "/r");
}

TEST(ParseConfig, NoNetworkNamespaceMeansHostNetwork) {
  auto config = ParseConfig(
      R"({"root": {"path": "r"}, "linux": {"namespaces": [{"type": "mount"}]}})", "c", "/b");
  ASSERT_OK(config);
  EXPECT_FALSE(config->network_namespace);
}

TEST(ParseConfig, ErrorsNameTheFileAndField) {
  struct Case {
    const char* text;
    const char* expected;
  };
  const Case cases[] = {
      {"", "config.json: not valid JSON"},
      {"{\"root\": {\"path\": \"r\"", "config.json: not valid JSON"},  // truncated
      {"garbage", "not valid JSON"},
      {"[1]", "top level: expected an object, got array"},
      {"{}", "root.path: missing"},
      {R"({"root": {"path": 3}})", "root.path: expected a string, got number"},
      {R"({"root": {"path": ""}})", "root.path: missing or empty"},
      {R"({"root": {"path": "r"}, "process": []})", "process: expected an object, got array"},
      {R"({"root": {"path": "r"}, "process": {"env": ["A=1", 2]}})",
       "process.env[1]: expected a string, got number"},
      {R"({"root": {"path": "r"}, "process": {"user": {"uid": -1}}})", "process.user.uid"},
      {R"({"root": {"path": "r"}, "process": {"user": {"uid": "0"}}})", "process.user.uid"},
      {R"({"root": {"path": "r"}, "process": {"user": {"gid": 4294967295}}})", "process.user.gid"},
      {R"({"root": {"path": "r"}, "annotations": {"a": 1}})", "annotations.a: expected a string"},
      {R"({"root": {"path": "r"}, "linux": {"namespaces": {}}})",
       "linux.namespaces: expected an array"},
      {R"({"root": {"path": "r"}, "linux": {"namespaces": [{"type": 1}]}})",
       "linux.namespaces[0].type"},
      {R"({"root": {"path": "r"}, "mounts": [{"destination": null}]})", "mounts[0].destination"},
  };
  for (const Case& c : cases) {
    absl::StatusOr<ContainerConfig> config = ParseConfig(c.text, "config.json", "/b");
    EXPECT_THAT(config, testutil::StatusIs(::testing::_, HasSubstr(c.expected))) << c.text;
    EXPECT_EQ(std::string(config.status().message()).find('\n'), std::string::npos);
  }
}

TEST(ParseJsonObject, RefusesDeepNesting) {
  const std::string deep = "{\"a\":" + std::string(200, '[') + std::string(200, ']') + "}";
  absl::StatusOr<nlohmann::json> parsed = ParseJsonObject(deep, "x");
  EXPECT_THAT(parsed, testutil::StatusIs(::testing::_, HasSubstr("nested deeper than")));
  const std::string fine = "{\"a\":" + std::string(30, '[') + std::string(30, ']') + "}";
  EXPECT_OK(ParseJsonObject(fine, "x"));
}

TEST(ReadBoundedFd, RefusesOversizedInput) {
  int fds[2];
  ASSERT_EQ(pipe(fds), 0);
  ASSERT_EQ(write(fds[1], "0123456789", 10), 10);
  close(fds[1]);
  absl::StatusOr<std::string> text = ReadBoundedFd(fds[0], "stdin", 9);
  close(fds[0]);
  EXPECT_THAT(text, testutil::StatusIs(::testing::_, HasSubstr("stdin: larger than 9 bytes")));
}

TEST(ReadBoundedFile, MissingFileIsNotFound) {
  EXPECT_TRUE(absl::IsNotFound(ReadBoundedFile("/nonexistent/pmi-shim/x.json").status()));
}

TEST(ParseState, GoodState) {
  absl::StatusOr<OciState> state = ParseState(
      R"({"ociVersion":"1.0.2","id":"c1","status":"creating","pid":42,"bundle":"/b/c1",
          "annotations":{"k":"v"}})",
      "stdin");
  ASSERT_OK(state);
  EXPECT_EQ(state->id, "c1");
  EXPECT_EQ(state->pid, 42);
  EXPECT_EQ(state->bundle, "/b/c1");
  EXPECT_EQ(state->status, "creating");
  EXPECT_EQ(state->annotations.at("k"), "v");
}

TEST(ParseState, OldBundlePathAndNoPid) {
  absl::StatusOr<OciState> state = ParseState(R"({"id":"c","bundlePath":"/b"})", "stdin");
  ASSERT_OK(state);
  EXPECT_EQ(state->bundle, "/b");
  EXPECT_EQ(state->pid, 0);
}

TEST(ParseState, BadStates) {
  const std::pair<const char*, const char*> cases[] = {
      {R"({"bundle":"/b"})", "id: missing"},
      {R"({"id":"../x","bundle":"/b"})", "id: must not hold '/'"},
      {R"({"id":"..","bundle":"/b"})", "id: must not"},
      {R"({"id":"c","bundle":"b"})", "bundle: missing or not a normalized absolute path"},
      {R"({"id":"c","bundle":"/b/../etc"})", "bundle"},
      {R"({"id":"c","bundle":"/b","pid":-4})", "pid: expected a process id"},
      {R"({"id":"c","bundle":"/b","pid":"4"})", "pid: expected a process id, got string"},
      {R"({"id":"c","bundle":"/b","pid":1e20})", "pid"},
      {R"({"id":5,"bundle":"/b"})", "id: expected a string, got number"},
  };
  for (const auto& [text, expected] : cases) {
    absl::StatusOr<OciState> state = ParseState(text, "the state on stdin");
    EXPECT_THAT(state, testutil::StatusIs(::testing::_, HasSubstr(expected))) << text;
    EXPECT_THAT(state.status().message(), HasSubstr("the state on stdin: "));
  }
}

TEST(Paths, NormalizeAndContainment) {
  EXPECT_EQ(NormalizePath("/b", "x//y/./z/.."), "/b/x/y");
  EXPECT_EQ(NormalizePath("/b", "/.."), "/");
  EXPECT_TRUE(IsNormalAbsolute("/tmp/x"));
  EXPECT_FALSE(IsNormalAbsolute("/tmp/x/"));
  EXPECT_FALSE(IsNormalAbsolute("/tmp//x"));
  EXPECT_FALSE(IsNormalAbsolute("/tmp/../x"));
  EXPECT_FALSE(IsNormalAbsolute("tmp/x"));
  EXPECT_FALSE(IsNormalAbsolute(std::string("/tmp/x\0y", 8)));
  EXPECT_TRUE(IsStrictlyUnder("/tmp/x", "/tmp"));
  EXPECT_FALSE(IsStrictlyUnder("/tmp", "/tmp"));
  EXPECT_FALSE(IsStrictlyUnder("/tmpx/y", "/tmp"));
  EXPECT_EQ(ParentDir("/a/b"), "/a");
  EXPECT_EQ(ParentDir("/a"), "/");
}

}  // namespace
}  // namespace pmi_shim::hook
