// Shared set-up of the container flow tests (design.md §5 flows 1-3): a
// scratch dir holding pmi-shim installed by deploy/install.sh (with an admin
// config that keeps the hook's state, log and allowed dirs inside the
// scratch dir), an image rootfs with the MPI programs, and the real launchers
// and engines. TearDown asserts that nothing is left: mounts, sockets,
// files in the publish and hook-state dirs, marked processes, engine
// processes, containers.
#ifndef PMI_SHIM_TEST_CONTAINERS_FLOW_FIXTURE_H_
#define PMI_SHIM_TEST_CONTAINERS_FLOW_FIXTURE_H_

#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "test/containers/engines.h"
#include "test/containers/leftovers.h"
#include "test/containers/oci_bundle.h"
#include "test/testing/launcher.h"
#include "test/testing/subprocess.h"

namespace pmi_shim::containers {

inline constexpr int kRanks = 4;

// Where the image has things.
inline constexpr char kMpichApp[] = "/app/mpi_collectives";
inline constexpr char kOmpiApp[] = "/app/pmix_ompi_app";
inline constexpr char kClientInImage[] = "/opt/pmi-shim/bin/pmi-shim-client";

class FlowTest : public ::testing::Test {
 protected:
  void SetUp() override;
  void TearDown() override;

  // Paths in the scratch dir.
  const std::string& scratch() const { return scratch_->path(); }
  std::string prefix() const { return scratch() + "/prefix"; }
  std::string hook() const { return prefix() + "/bin/pmi-shim-hook"; }
  std::string bridge() const { return prefix() + "/bin/pmi-bridge"; }
  std::string admin_config() const { return prefix() + "/etc/pmi-shim/hook.json"; }
  std::string hooks_dir() const { return prefix() + "/share/containers/oci/hooks.d"; }
  std::string publish_dir() const { return scratch() + "/pub"; }
  std::string rootfs() const { return scratch() + "/rootfs"; }
  std::string image_tar() const { return scratch() + "/image.tar"; }

  // Builds rootfs() and image_tar(): busybox, mpi_collectives (MPICH) and,
  // with `ompi`, pmix_ompi_app plus Open MPI's and PMIx's plugin trees.
  // Without `mount_points` the image has neither /run/pmi-shim nor /opt
  // (what an image built with no thought of pmi-shim looks like).
  void BuildImage(bool ompi, bool mount_points = true);

  // Starts docker_ with the runtimes entry exactly as install.sh wrote it
  // for daemon.json, and imports image_tar() as `image`.
  absl::Status StartDockerWithInstalledRuntime(const std::string& image);
  // Skips unless every program is installed and we are root.
  bool Require(const std::vector<std::string>& programs);

  // `pmi-bridge exec --publish-dir PUB EXTRA -- COMMAND`, with the installed bridge.
  std::vector<std::string> BridgeExec(const std::vector<std::string>& extra,
                                      const std::vector<std::string>& command) const;
  // kRanks ranks of COMMAND under mpiexec.hydra, or mpirun.openmpi with
  // FLAGS after the suite's own (launcher.h).
  static testutil::JobSpec Hydra(const std::vector<std::string>& command);
  static testutil::JobSpec Mpirun(const std::vector<std::string>& flags,
                                  const std::vector<std::string>& command);
  // ARGV run as it is, as a job (no launcher).
  static testutil::JobSpec Direct(const std::vector<std::string>& argv);

  // Runs `spec` to its end with the test's marker and TMPDIR; whatever the
  // job left running (the engines get a few seconds to reap) fails the test.
  testutil::RunResult RunJob(testutil::JobSpec spec);

  // A runc bundle template whose PMI_SHIM_DIR is filled per rank by a
  // wrapper script (the test's own launch glue): returns the script's path.
  std::string WriteRuncRankScript(const Runc& runc, BundleSpec spec);

  // The hook's JSON-lines log.
  std::string HookLog() const;

  // Engines the test used: TearDown cleans them and lists their containers.
  std::optional<Runc> runc_;
  std::optional<Podman> podman_;
  std::unique_ptr<DockerDaemon> docker_;

 private:
  std::optional<ScratchDir> scratch_;
  std::string marker_;
};

}  // namespace pmi_shim::containers

#endif  // PMI_SHIM_TEST_CONTAINERS_FLOW_FIXTURE_H_
