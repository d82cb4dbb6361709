// Behaviour around the golden cases: names, context checks, and the
// additions `pmi-bridge env` prints.
#include "bridge/engines/engine_command.h"

#include "absl/strings/match.h"
#include "gtest/gtest.h"
#include "test/testing/status_matchers.h"

namespace pmi_shim::engines {
namespace {

EngineContext Context(std::string rank_dir = "/tmp/ps/rank.0") {
  EngineContext context;
  context.rank_dir = rank_dir;
  context.tools_dir = "/usr/local";
  context.env = {{"PMI_SHIM_DIR", rank_dir}};
  return context;
}

TEST(EngineCommandTest, NamesRoundTrip) {
  for (Engine engine : {Engine::kApptainer, Engine::kSingularity, Engine::kCharliecloud,
                        Engine::kPodman, Engine::kDocker}) {
    EXPECT_EQ(ParseEngineName(EngineName(engine)), engine);
  }
  EXPECT_EQ(ParseEngineName("ch-run"), Engine::kCharliecloud);
  EXPECT_EQ(ParseEngineName("lxc"), std::nullopt);
  EXPECT_EQ(EngineOfProgram("/opt/apptainer/bin/apptainer"), Engine::kApptainer);
  EXPECT_EQ(EngineOfProgram("apptainer-wrapper"), Engine::kNone);
  EXPECT_EQ(EngineOfProgram("/usr/bin/podman-hpc"), Engine::kPodman);
  EXPECT_TRUE(IsEngineAlias("/usr/bin/podman-hpc"));
  EXPECT_FALSE(IsEngineAlias("podman"));
  EXPECT_EQ(EngineOfProgram("nerdctl"), Engine::kDocker);
}

TEST(EngineCommandTest, PathsTheEngineWouldSplitAreRefused) {
  absl::StatusOr<Rewrite> comma =
      RewriteEngineCommand({"apptainer", "exec", "i.sif", "app"}, Context("/tmp/a,b"));
  ASSERT_FALSE(comma.ok());
  EXPECT_TRUE(absl::StrContains(comma.status().message(), "','"));
  absl::StatusOr<Rewrite> colon =
      RewriteEngineCommand({"ch-run", "img", "--", "app"}, Context("/tmp/a:b"));
  ASSERT_FALSE(colon.ok());
  EXPECT_TRUE(absl::StrContains(colon.status().message(), "':'"));
}

TEST(EngineCommandTest, RelativeRankDirIsRefused) {
  EXPECT_FALSE(RewriteEngineCommand({"ch-run", "img", "--", "app"}, Context("rank.0")).ok());
}

TEST(EngineCommandTest, NoToolsDirLeavesTheSiteBind) {
  EngineContext context = Context();
  context.tools_dir.clear();
  absl::StatusOr<Rewrite> rewrite =
      RewriteEngineCommand({"apptainer", "exec", "i.sif", "app"}, context);
  ASSERT_OK(rewrite);
  EXPECT_EQ(rewrite->argv,
            (std::vector<std::string>{"apptainer", "exec", "--bind", "/tmp/ps/rank.0", "--env",
                                      "PMI_SHIM_DIR=/tmp/ps/rank.0", "i.sif", kClientPath, "exec",
                                      "--", "app"}));
  ASSERT_FALSE(rewrite->notes.empty());
  EXPECT_TRUE(absl::StrContains(rewrite->notes[0], "bind path"));
}

TEST(EngineCommandTest, UnrecognisedIsUnchanged) {
  const std::vector<std::string> argv = {"mpirun", "-n", "2", "apptainer"};
  absl::StatusOr<Rewrite> rewrite = RewriteEngineCommand(argv, Context());
  ASSERT_OK(rewrite);
  EXPECT_EQ(rewrite->engine, Engine::kNone);
  EXPECT_EQ(rewrite->argv, argv);
  EXPECT_EQ(RewriteEngineCommand({}, Context())->engine, Engine::kNone);
}

TEST(EngineCommandTest, AdditionsForApptainer) {
  absl::StatusOr<EngineAdditions> additions = AdditionsFor(Engine::kApptainer, Context());
  ASSERT_OK(additions);
  EXPECT_EQ(additions->flags, (std::vector<std::string>{"--bind", "/tmp/ps/rank.0", "--bind",
                                                        "/usr/local:/opt/pmi-shim:ro", "--env",
                                                        "PMI_SHIM_DIR=/tmp/ps/rank.0"}));
  EXPECT_EQ(additions->prefix, ClientPrefix());
  ASSERT_EQ(additions->engine_environment.size(), 1u);
  EXPECT_EQ(additions->engine_environment[0].first, "APPTAINERENV_PMI_SHIM_DIR");
}

TEST(EngineCommandTest, AdditionsForSingularityUseItsPrefix) {
  absl::StatusOr<EngineAdditions> additions = AdditionsFor(Engine::kSingularity, Context());
  ASSERT_OK(additions);
  EXPECT_EQ(additions->engine_environment[0].first, "SINGULARITYENV_PMI_SHIM_DIR");
}

TEST(EngineCommandTest, AdditionsForCharliecloudAndDocker) {
  absl::StatusOr<EngineAdditions> ch = AdditionsFor(Engine::kCharliecloud, Context());
  ASSERT_OK(ch);
  EXPECT_EQ(ch->flags, (std::vector<std::string>{"-b", "/tmp/ps/rank.0:/tmp/ps/rank.0", "-b",
                                                 "/usr/local:/opt/pmi-shim"}));
  EXPECT_TRUE(ch->engine_environment.empty());
  absl::StatusOr<EngineAdditions> docker = AdditionsFor(Engine::kDocker, Context());
  ASSERT_OK(docker);
  EXPECT_EQ(docker->flags, (std::vector<std::string>{"--env", "PMI_SHIM_DIR=/tmp/ps/rank.0"}));
  EXPECT_FALSE(AdditionsFor(Engine::kNone, Context()).ok());
}

}  // namespace
}  // namespace pmi_shim::engines
