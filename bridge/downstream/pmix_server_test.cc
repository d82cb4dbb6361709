// PmixServer itself, with libpmix but without clients: what it registers
// and hands out, the one-per-process rule, and cleanup. Clients are in
// pmix_server_e2e_test.cc, the upcall logic in pmix_host_adapter_test.cc.
#include "bridge/downstream/pmix_server.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <memory>
#include <string>
#include <vector>

#include "bridge/upstream/embedded_host.h"
#include "common/event_loop.h"
#include "test/testing/status_matchers.h"

namespace pmi_shim::downstream {
namespace {

using ::testing::Contains;
using ::testing::HasSubstr;
using ::testing::StartsWith;

session::JobInfo Job() {
  session::JobInfo info;
  info.kvsname = "kvs 42";  // not a usable nspace as is
  info.size = 2;
  info.universe_size = 2;
  return info;
}

bool Exists(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0;
}

TEST(PmixServerTest, StartsOncePerProcessHandsOutEnvironmentAndCleansUp) {
  EventLoop loop;
  upstream::EmbeddedHost host(Job(), {});
  PmixServer::Options options;
  options.tmpdir_parent = ::testing::TempDir();
  absl::StatusOr<std::unique_ptr<PmixServer>> server = PmixServer::Start(loop, host, options);
  ASSERT_OK(server);
  EXPECT_EQ((*server)->nspace(), "kvs_42");
  const std::string tmpdir = (*server)->tmpdir();
  EXPECT_TRUE(Exists(tmpdir)) << tmpdir;

  absl::StatusOr<std::unique_ptr<PmixServer>> second = PmixServer::Start(loop, host, options);
  EXPECT_EQ(second.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(second.status().message(), HasSubstr("one per process"));

  absl::StatusOr<std::vector<std::string>> env = (*server)->ClientEnvironment(1);
  ASSERT_OK(env);
  EXPECT_THAT(*env, Contains("PMIX_NAMESPACE=kvs_42"));
  EXPECT_THAT(*env, Contains("PMIX_RANK=1"));
  EXPECT_THAT(*env, Contains(StartsWith("PMIX_SERVER_URI4=")));
  EXPECT_THAT(*env, Contains("PMIX_MCA_gds=hash"));
  EXPECT_THAT(*env, Contains("OMPI_MCA_schizo=ompi"));
  EXPECT_EQ((*server)->ClientEnvironment(2).status().code(), absl::StatusCode::kOutOfRange);
  EXPECT_FALSE((*server)->Connected(0));
  EXPECT_FALSE((*server)->RankExited(0, "exited with code 0"));  // never connected

  (*server)->Stop();
  EXPECT_FALSE(Exists(tmpdir));
}

TEST(PmixServerTest, RefusesBadOptionsBeforeTouchingLibpmix) {
  EventLoop loop;
  upstream::EmbeddedHost host(Job(), {});
  PmixServer::Options options;
  options.local_ranks = {0, 5};
  EXPECT_EQ(PmixServer::Start(loop, host, options).status().code(),
            absl::StatusCode::kInvalidArgument);
  options.local_ranks = {0};
  options.nspace = "no spaces";
  EXPECT_EQ(PmixServer::Start(loop, host, options).status().code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace pmi_shim::downstream
