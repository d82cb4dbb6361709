#include "hook/planner.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "test/testing/status_matchers.h"

namespace pmi_shim::hook {
namespace {

using ::testing::ElementsAre;
using ::testing::ElementsAreArray;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

std::vector<std::string> Mounts(const Plan& plan) {
  std::vector<std::string> out;
  for (const MountStep& m : plan.mounts) {
    out.push_back(absl::StrCat(m.source, "->", m.target, m.read_only ? " ro" : " rw"));
  }
  return out;
}

std::vector<std::string> Relays(const Plan& plan) {
  std::vector<std::string> out;
  for (const RelayStep& r : plan.relays) out.push_back(absl::StrCat(r.address, ":", r.port));
  return out;
}

OciState State() {
  OciState state;
  state.id = "c1";
  state.pid = 4242;
  state.bundle = "/b/c1";
  return state;
}

ContainerConfig Config(std::vector<std::string> env, bool private_netns = true) {
  ContainerConfig config;
  config.env = std::move(env);
  config.rootfs = "/b/c1/rootfs";
  config.uid = 1000;
  config.gid = 100;
  config.network_namespace = private_netns;
  return config;
}

struct Case {
  const char* name;
  std::vector<std::string> env;
  bool private_netns;
  std::vector<std::string> mounts;
  std::vector<std::string> relays;
  std::vector<std::string> env_added;
  std::vector<std::string> note_parts;  // each must appear in some note, in order
};

TEST(BuildPlan, Table) {
  const std::string uri = "PMIX_SERVER_URI";
  const Case cases[] = {
      {"nothing", {"PATH=/bin"}, true, {}, {}, {}, {}},
      {"rank dir", {"PMI_SHIM_DIR=/tmp/pmi/0"}, true, {"/tmp/pmi/0->/run/pmi-shim ro"}, {}, {}, {}},
      {"pmix uris deduped",
       {uri + "2=ns.0;tcp4://127.0.0.1:5000", uri + "21=ns.0;tcp4://127.0.0.1:5000",
        uri + "4=ns.0;tcp4://127.0.0.1:5000", uri + "41=ns.0;tcp4://127.0.0.1:5001"},
       true,
       {},
       {"127.0.0.1:5000", "127.0.0.1:5001"},
       {},
       {}},
      {"pmi port localhost", {"PMI_PORT=localhost:7000"}, true, {}, {"127.0.0.1:7000"}, {}, {}},
      {"other loopback kept", {"PMI_PORT=127.0.0.2:7000"}, true, {}, {"127.0.0.2:7000"}, {}, {}},
      {"host netns: no relay",
       {"PMI_PORT=127.0.0.1:7000"},
       false,
       {},
       {},
       {},
       {"shares the host's network namespace"}},
      {"non-loopback refused",
       {"PMI_PORT=10.1.2.3:7000", uri + "4=ns.0;tcp4://192.168.1.1:9"},
       true,
       {},
       {},
       {},
       {"PMI_PORT: 10.1.2.3:7000 is not a loopback", "192.168.1.1:9 is not a loopback"}},
      {"bad port", {"PMI_PORT=127.0.0.1:99999"}, true, {}, {}, {}, {"cannot read HOST:PORT"}},
      {"tcp6", {uri + "4=ns.0;tcp6://[::1]:5"}, true, {}, {}, {}, {"IPv6"}},
      {"v1 usock", {uri + "=ns:0:/tmp/pmix/usock"}, true, {}, {}, {}, {"not a tcp4:// URI"}},
      {"tmpdirs nested",
       {"PMIX_SYSTEM_TMPDIR=/tmp/ompi", "PMIX_SERVER_TMPDIR=/tmp/ompi/job.1"},
       true,
       {"/tmp/ompi->/tmp/ompi rw"},
       {},
       {},
       {}},
      {"system tmpdir /tmp itself refused, server tmpdir mounted",
       {"PMIX_SYSTEM_TMPDIR=/tmp", "PMIX_SERVER_TMPDIR=/tmp/ompi.h.0/pid.9"},
       true,
       {"/tmp/ompi.h.0/pid.9->/tmp/ompi.h.0/pid.9 rw"},
       {},
       {},
       {"PMIX_SYSTEM_TMPDIR=/tmp is not below an allowed directory"}},
      {"server tmpdir outside: gds hash",
       {"PMIX_SERVER_TMPDIR=/var/spool/slurm/pmix.1.0"},
       true,
       {},
       {},
       {"PMIX_GDS_MODULE=hash", "PMIX_MCA_gds=hash"},
       {"PMIX_SERVER_TMPDIR=/var/spool/slurm/pmix.1.0 is not below", "PMIX_GDS_MODULE=hash"}},
      {"pmi fd", {"PMI_FD=3", "PMI_RANK=0"}, true, {}, {}, {}, {"pmi-bridge exec"}},
      {"everything (openmpi under pmi-bridge exec)",
       {"PMI_SHIM_DIR=/run/pmi-shim/job/3", uri + "41=ns.3;tcp4://127.0.0.1:41000",
        "PMIX_SERVER_TMPDIR=/tmp/prte.x/1"},
       true,
       {"/run/pmi-shim/job/3->/run/pmi-shim ro", "/tmp/prte.x/1->/tmp/prte.x/1 rw"},
       {"127.0.0.1:41000"},
       {},
       {}},
  };
  AdminConfig admin;
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    absl::StatusOr<Plan> plan = BuildPlan(State(), Config(c.env, c.private_netns), admin, {});
    ASSERT_OK(plan);
    EXPECT_THAT(Mounts(*plan), ElementsAreArray(c.mounts));
    EXPECT_THAT(Relays(*plan), ElementsAreArray(c.relays));
    EXPECT_THAT(plan->env, ElementsAreArray(c.env_added));
    const std::string notes = absl::StrJoin(plan->notes, "\n");
    for (const std::string& part : c.note_parts) EXPECT_THAT(notes, HasSubstr(part));
    if (c.note_parts.empty()) {
      EXPECT_THAT(plan->notes, IsEmpty());
    }
  }
}

TEST(BuildPlan, IdentityAndNetns) {
  absl::StatusOr<Plan> plan = BuildPlan(State(), Config({}), AdminConfig(), {});
  ASSERT_OK(plan);
  EXPECT_EQ(plan->container_id, "c1");
  EXPECT_EQ(plan->pid, 4242);
  EXPECT_EQ(plan->bundle, "/b/c1");
  EXPECT_EQ(plan->rootfs, "/b/c1/rootfs");
  EXPECT_EQ(plan->uid, 1000u);
  EXPECT_EQ(plan->gid, 100u);
  EXPECT_TRUE(plan->private_netns);
  EXPECT_EQ(plan->netns_path, "/proc/4242/ns/net");
  EXPECT_TRUE(plan->empty());

  ContainerConfig joined = Config({});
  joined.network_namespace_path = "/run/netns/job";
  EXPECT_EQ(BuildPlan(State(), joined, AdminConfig(), {})->netns_path, "/run/netns/job");

  OciState before_start = State();
  before_start.pid = 0;  // runtime mode: no process yet
  EXPECT_EQ(BuildPlan(before_start, Config({}), AdminConfig(), {})->netns_path, "");
  EXPECT_EQ(BuildPlan(State(), Config({}, false), AdminConfig(), {})->netns_path, "");
}

TEST(BuildPlan, RankDirOutsideAllowedDirsIsRefused) {
  for (const char* dir :
       {"/etc", "/tmp", "/tmp/../etc/x", "tmp/x", "/tmp//x", "/run/pmi-shim", ""}) {
    absl::StatusOr<Plan> plan =
        BuildPlan(State(), Config({absl::StrCat("PMI_SHIM_DIR=", dir)}), AdminConfig(), {});
    ASSERT_FALSE(plan.ok()) << dir;
    EXPECT_EQ(plan.status().code(), absl::StatusCode::kPermissionDenied);
    EXPECT_THAT(plan.status().message(), HasSubstr("PMI_SHIM_DIR="));
    EXPECT_THAT(plan.status().message(), HasSubstr("allowed_dirs"));
  }
}

TEST(BuildPlan, ToolsDirMountedReadOnly) {
  absl::StatusOr<Plan> plan =
      BuildPlan(State(), Config({}), AdminConfig(), {"/opt/pmi-shim-1.0", nullptr});
  ASSERT_OK(plan);
  EXPECT_THAT(Mounts(*plan), ElementsAre("/opt/pmi-shim-1.0->/opt/pmi-shim ro"));
}

TEST(BuildPlan, SkipsTargetsTheEngineAlreadyMounts) {
  ContainerConfig config = Config({"PMI_SHIM_DIR=/tmp/r/1"});
  config.mounts.push_back({"/run/pmi-shim/", "/tmp/r/1", "bind"});
  absl::StatusOr<Plan> plan = BuildPlan(State(), config, AdminConfig(), {"/opt/p", nullptr});
  ASSERT_OK(plan);
  EXPECT_THAT(Mounts(*plan), ElementsAre("/opt/p->/opt/pmi-shim ro"));
  EXPECT_THAT(absl::StrJoin(plan->notes, "\n"), HasSubstr("already mounted by the engine"));
}

TEST(BuildPlan, HostPathCheckIsAskedForUserPathsOnly) {
  std::vector<std::string> checked;
  HostPathCheck check = [&checked](const MountStep& step, uid_t owner) {
    checked.push_back(absl::StrCat(step.source, "@", owner));
    return step.source == "/tmp/bad" ? absl::PermissionDeniedError("is not a directory")
                                     : absl::OkStatus();
  };
  absl::StatusOr<Plan> plan =
      BuildPlan(State(), Config({"PMI_SHIM_DIR=/tmp/r", "PMIX_SERVER_TMPDIR=/tmp/t"}),
                AdminConfig(), {"/opt/p", check});
  ASSERT_OK(plan);
  EXPECT_THAT(checked, ElementsAre("/tmp/r@1000", "/tmp/t@1000"));
  plan = BuildPlan(State(), Config({"PMI_SHIM_DIR=/tmp/bad"}), AdminConfig(), {"", check});
  ASSERT_FALSE(plan.ok());
  EXPECT_EQ(plan.status().message(), "PMI_SHIM_DIR=/tmp/bad: is not a directory");
}

TEST(ParseEndpoints, Forms) {
  Endpoint e = ParsePmixUri("PMIX_SERVER_URI41", "prterun-h-1@0.0;tcp4://127.0.0.1:33445");
  EXPECT_EQ(e.address, "127.0.0.1");
  EXPECT_EQ(e.port, 33445);
  EXPECT_EQ(e.note, "");
  e = ParsePmiPort("127.0.0.1:0");
  EXPECT_THAT(e.note, HasSubstr("cannot read"));
  e = ParsePmiPort("localhost");
  EXPECT_THAT(e.note, HasSubstr("cannot read"));
  e = ParsePmiPort("127.0.0.1:12x");
  EXPECT_THAT(e.note, HasSubstr("cannot read"));
  e = ParsePmiPort("node7:5000");
  EXPECT_THAT(e.note, HasSubstr("not a loopback"));
}

}  // namespace
}  // namespace pmi_shim::hook
