#include "common/log.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <string>

#include "test/testing/status_matchers.h"

namespace pmi_shim::log {
namespace {

TEST(LogTest, JsonFileGetsOneParsableLinePerMessage) {
  Init("log-test");
  const std::string path = std::string(::testing::TempDir()) + "/log_test.jsonl";
  ::unlink(path.c_str());
  ASSERT_OK(SetJsonFile(path));
  Error("rank 3: bad \"quoted\" line\twith tab");
  Debug("only in the file");
  ASSERT_OK(SetJsonFile(""));

  std::ifstream in(path);
  std::string first, second, third;
  ASSERT_TRUE(std::getline(in, first));
  ASSERT_TRUE(std::getline(in, second));
  EXPECT_FALSE(std::getline(in, third));
  nlohmann::json j = nlohmann::json::parse(first);
  EXPECT_EQ(j["level"], "error");
  EXPECT_EQ(j["program"], "log-test");
  EXPECT_EQ(j["msg"], "rank 3: bad \"quoted\" line\twith tab");
  EXPECT_EQ(j["pid"], static_cast<int>(getpid()));
  EXPECT_EQ(nlohmann::json::parse(second)["level"], "debug");
}

TEST(LogTest, UnwritableFileIsAnError) {
  absl::Status status = SetJsonFile("/nonexistent-dir/x.jsonl");
  EXPECT_THAT(status,
              testutil::StatusIs(::testing::_, ::testing::HasSubstr("/nonexistent-dir/x.jsonl")));
}

}  // namespace
}  // namespace pmi_shim::log
