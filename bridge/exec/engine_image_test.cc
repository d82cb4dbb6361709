#include "bridge/exec/engine_image.h"

#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include <gtest/gtest.h>

#include "test/testing/status_matchers.h"

namespace pmi_shim::exec {
namespace {

class EngineImageTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char templ[] = "/tmp/engine_image_test.XXXXXX";
    ASSERT_NE(::mkdtemp(templ), nullptr);
    dir_ = templ;
    image_ = dir_ + "/img";
    std::filesystem::create_directories(image_ + "/usr/bin");
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  engines::EngineContext Context() const {
    engines::EngineContext context;
    context.rank_dir = "/tmp/pmi-shim-0/job.1.2";
    context.tools_dir = dir_ + "/tools";
    return context;
  }

  std::string dir_;
  std::string image_;
};

TEST_F(EngineImageTest, ChRunImageWithoutOpt) {
  std::optional<engines::ImageFacts> facts =
      LookIntoImage({"ch-run", image_, "--", "/app"}, Context());
  ASSERT_TRUE(facts.has_value());
  EXPECT_EQ(facts->image, image_);
  EXPECT_FALSE(facts->Has("/opt/pmi-shim"));

  std::filesystem::create_directories(image_ + "/opt/pmi-shim");
  facts = LookIntoImage({"ch-run", "-w", image_, "--", "/app"}, Context());
  ASSERT_TRUE(facts.has_value());
  EXPECT_TRUE(facts->Has("/opt/pmi-shim"));
}

TEST_F(EngineImageTest, ASymlinkInTheImageIsResolvedInsideIt) {
  // /opt -> /host-opt (absolute): inside the image, not the host's.
  std::filesystem::create_directories(image_ + "/elsewhere/pmi-shim");
  ASSERT_EQ(::symlink("/elsewhere", (image_ + "/opt").c_str()), 0);
  std::optional<engines::ImageFacts> facts =
      LookIntoImage({"ch-run", image_, "--", "/app"}, Context());
  ASSERT_TRUE(facts.has_value());
  EXPECT_TRUE(facts->Has("/opt/pmi-shim"));
}

TEST_F(EngineImageTest, ApptainerSandboxDirectory) {
  std::optional<engines::ImageFacts> facts =
      LookIntoImage({"apptainer", "exec", "--cleanenv", image_, "/app"}, Context());
  ASSERT_TRUE(facts.has_value());
  EXPECT_FALSE(facts->Has("/opt/pmi-shim"));
  // A SIF file (here: any file) is not opened.
  std::ofstream(dir_ + "/app.sif") << "SIF";
  EXPECT_FALSE(LookIntoImage({"apptainer", "exec", dir_ + "/app.sif", "/app"}, Context()));
}

TEST_F(EngineImageTest, WhatCannotBeLookedInto) {
  EXPECT_FALSE(LookIntoImage({"podman", "run", "img", "/app"}, Context()).has_value());
  EXPECT_FALSE(LookIntoImage({"ch-run", dir_ + "/missing.sqfs", "--", "/app"}, Context()));
  EXPECT_FALSE(ChImageDirectory("/etc/hostname").has_value());
}

TEST_F(EngineImageTest, CarryClientCopiesAnExecutable) {
  std::filesystem::create_directories(dir_ + "/tools/bin");
  std::ofstream(dir_ + "/tools/bin/pmi-shim-client") << "#!/bin/sh\necho hi\n";
  ASSERT_OK(CarryClient(dir_ + "/tools", dir_ + "/carried"));
  EXPECT_EQ(::access((dir_ + "/carried").c_str(), X_OK), 0);
  EXPECT_FALSE(CarryClient(dir_ + "/tools", dir_ + "/carried").ok());  // never overwrites
  EXPECT_FALSE(CarryClient(dir_ + "/none", dir_ + "/other").ok());
}

}  // namespace
}  // namespace pmi_shim::exec
