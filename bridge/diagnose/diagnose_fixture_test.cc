// diagnose on fixture images: rootfs trees made here with real ELF
// libraries (compiled at test time) carrying the sonames, version strings
// and symbols of PMIx 1.2.5 to 5.x, MPICH 3/4, Open MPI 3/4/5, Intel MPI,
// MVAPICH2 and Slurm's libpmi2, judged against several host environments.
#include <map>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "bridge/diagnose/container_facts.h"
#include "bridge/diagnose/host_analysis.h"
#include "bridge/diagnose/testing/verdict_queries.h"
#include "bridge/diagnose/verdict.h"
#include "gtest/gtest.h"
#include "image/image_scan.h"
#include "image/testing/fixture_image.h"
#include "test/testing/status_matchers.h"

namespace pmi_shim::diagnose {

using image::ImageReport;
using image::kFamilyPmix;
using image::LibraryInfo;
using image::ScanImage;
namespace {

using image::testing::FixtureLibrary;

constexpr char kLib[] = "/usr/lib/x86_64-linux-gnu";

FixtureLibrary Pmix(const std::string& version, std::vector<std::string> components,
                    const std::string& dir = kLib) {
  FixtureLibrary lib;
  lib.path = absl::StrCat(dir, "/libpmix.so.2.0.0");
  lib.soname = "libpmix.so.2";
  lib.links = {absl::StrCat(dir, "/libpmix.so.2")};
  // v3+ say "OpenPMIx X (PMIx Standard...)", older "PMIx vX".
  lib.strings = {version[0] >= '3'
                     ? absl::StrCat("OpenPMIx ", version, " (PMIx Standard: 4.2, Stable ABI: 0.0)")
                     : absl::StrCat("PMIx v", version)};
  for (const std::string& c : components) {
    std::string symbol = c;
    symbol[symbol.find('/')] = '_';
    lib.int_symbols.push_back(absl::StrCat("pmix_mca_", symbol, "_component"));
  }
  return lib;
}

FixtureLibrary PmixPlugin(const std::string& file, const std::string& version) {
  return {absl::StrCat(kLib, "/pmix/", file),
          "",
          {absl::StrCat("PMIX MCA component version ", version)},
          {},
          {},
          {},
          {}};
}

FixtureLibrary Mpich(const std::string& version, bool old_soname = false) {
  FixtureLibrary lib;
  lib.path = absl::StrCat(kLib, old_soname ? "/libmpi.so.12.1.0" : "/libmpich.so.12.2.2");
  lib.soname = old_soname ? "libmpi.so.12" : "libmpich.so.12";
  lib.strings = {"MPICH Version:\t%s", "MPICH Release date:\t%s"};
  lib.string_symbols = {{old_soname ? "MPIR_Version_string" : "MPII_Version_string", version},
                        {old_soname ? "MPIR_Version_configure" : "MPII_Version_configure",
                         "--prefix=/usr --with-device=ch4:ofi --with-pm=hydra"}};
  return lib;
}

FixtureLibrary OpenMpi(const std::string& version) {
  FixtureLibrary lib;
  lib.path = absl::StrCat(kLib, "/libmpi.so.40.30.4");
  lib.soname = "libmpi.so.40";
  lib.strings = {"Open MPI", absl::StrCat("v", version), "Open MPI v%d.%d.%d"};
  lib.needed = {"libpmix.so.2"};
  return lib;
}

FixtureLibrary OmpiComponent(const std::string& name, const std::string& embedded_pmix = "") {
  FixtureLibrary lib;
  lib.path = absl::StrCat(kLib, "/openmpi/lib/openmpi3/mca_pmix_", name, ".so");
  if (!embedded_pmix.empty()) {
    lib.strings = {absl::StrCat("OpenPMIx ", embedded_pmix, " (PMIx Standard: 3.1)")};
    lib.int_symbols = {"pmix_mca_gds_ds21_component", "pmix_mca_gds_hash_component",
                       "pmix_mca_psec_native_component"};
  }
  return lib;
}

FixtureLibrary IntelMpi() {
  FixtureLibrary lib;
  lib.path = "/opt/intel/oneapi/mpi/2021.10.0/lib/release/libmpi.so.12.0.0";
  lib.soname = "libmpi.so.12";
  lib.strings = {"Intel(R) MPI Library 2021.10 for Linux* OS", "MPICH Version:\t%s"};
  return lib;
}

FixtureLibrary Mvapich() {
  FixtureLibrary lib;
  lib.path = "/opt/mvapich2/lib/libmpi.so.12.1.1";
  lib.soname = "libmpi.so.12";
  lib.strings = {"MVAPICH2 Version:\t%s"};
  lib.string_symbols = {{"MPIR_Version_string", "2.3.7"}};
  return lib;
}

FixtureLibrary SlurmPmi2() {
  FixtureLibrary lib;
  lib.path = absl::StrCat(kLib, "/libpmi2.so.0.0.0");
  lib.soname = "libpmi2.so.0";
  lib.int_symbols = {"PMI2_Init", "PMI2_KVS_Put"};
  return lib;
}

const std::vector<std::string> kPmix4Components = {
    "psec/native", "psec/munge", "gds/ds12",  "gds/ds21",  "gds/hash",  "bfrops/v12",
    "bfrops/v20",  "bfrops/v21", "bfrops/v3", "bfrops/v4", "bfrops/v41"};

// The fixture images.
std::map<std::string, std::vector<FixtureLibrary>> Images() {
  return {
      {"mpich-4.0.2", {Mpich("4.0.2")}},
      {"mpich-3.4.3", {Mpich("3.4.3", /*old_soname=*/true)}},
      {"mpich-4.1.2", {Mpich("4.1.2")}},
      {"ompi-4.1.4-pmix-4.2.2",
       {OpenMpi("4.1.4"), OmpiComponent("ext3x"), Pmix("4.2.2", kPmix4Components)}},
      {"ompi-4.1.4-pmix-4.2.2-hash-only",
       {OpenMpi("4.1.4"), OmpiComponent("ext3x"),
        Pmix("4.2.2", {"psec/native", "gds/hash", "bfrops/v41"})}},
      {"ompi-5.0.2-pmix-5.0.2-munge",
       {OpenMpi("5.0.2"), Pmix("5.0.2", {"psec/native", "gds/hash", "gds/shmem2", "bfrops/v41"}),
        PmixPlugin("pmix_mca_psec_munge.so", "5.0.2")}},
      {"ompi-5.0.2-pmix-5.0.2-nomunge",
       {OpenMpi("5.0.2"), Pmix("5.0.2", {"psec/native", "gds/hash", "bfrops/v41"})}},
      {"ompi-3.1.6-embedded-pmix-3.1.5", {OpenMpi("3.1.6"), OmpiComponent("pmix3x", "3.1.5")}},
      {"ompi-2-pmix-1.2.5",
       {OpenMpi("2.1.6"), Pmix("1.2.5", {}), PmixPlugin("mca_psec_native.so", "1.2.5")}},
      {"pmix-1.2.5-and-mpich", {Pmix("1.2.5", {}), Mpich("4.0.2")}},
      {"pmix-2.0.3", {Pmix("2.0.3", {"psec/native", "gds/ds12", "gds/hash"})}},
      {"pmix-2.1.4", {Pmix("2.1.4", {"psec/native", "gds/ds12", "gds/hash"})}},
      {"pmix-3.2.5-client",
       {Pmix("3.2.5", {"psec/native", "gds/ds12", "gds/ds21", "gds/hash", "bfrops/v3"})}},
      {"pmix-4.2.2-client-munge", {Pmix("4.2.2", kPmix4Components)}},
      {"pmix-4.2.2-client-hash", {Pmix("4.2.2", {"psec/native", "gds/hash", "bfrops/v41"})}},
      {"mpich-3.4.3-and-slurm-libpmi2", {Mpich("3.4.3", /*old_soname=*/true), SlurmPmi2()}},
      {"mvapich2-and-slurm-libpmi2", {Mvapich(), SlurmPmi2()}},
      {"intel-mpi-2021.10", {IntelMpi()}},
      {"mvapich2-2.3.7", {Mvapich()}},
      {"slurm-libpmi2", {SlurmPmi2()}},
      {"empty", {}},
  };
}

// Host environments, as the real launchers set them (real-peers.md, protocols.md §4.2).
std::map<std::string, upstream::Environment> Hosts() {
  upstream::Environment ompi41 = {{"PMIX_NAMESPACE", "1727856641"},
                                  {"PMIX_RANK", "0"},
                                  {"PMIX_SERVER_URI41", "1727856640.0;tcp4://127.0.0.1:59453"},
                                  {"PMIX_SERVER_URI4", "1727856640.0;tcp4://127.0.0.1:59453"},
                                  {"PMIX_SERVER_URI3", "1727856640.0;tcp4://127.0.0.1:59453"},
                                  {"PMIX_SERVER_URI2", "1727856640.0;tcp4://127.0.0.1:59453"},
                                  {"PMIX_SERVER_URI21", "1727856640.0;tcp4://127.0.0.1:59453"},
                                  {"PMIX_SECURITY_MODE", "native"},
                                  {"PMIX_GDS_MODULE", "ds21,ds12,hash"},
                                  {"PMIX_SERVER_TMPDIR", "/tmp/ompi.vm.0/pid.2563"},
                                  {"PMIX_VERSION", "4.2.2rc2"},
                                  {"OMPI_COMM_WORLD_SIZE", "2"}};
  upstream::Environment pmix61 = {{"PMIX_NAMESPACE", "prterun-vm-1@1"},
                                  {"PMIX_RANK", "0"},
                                  {"PMIX_VERSION", "6.1.0"},
                                  {"PRTE_LAUNCHED", "1"},
                                  {"PMIX_SECURITY_MODE", "native,none"},
                                  {"PMIX_GDS_MODULE", "shmem2,hash"}};
  for (const char* n : {"61", "51", "41", "4", "3", "21", "20", "12"}) {
    pmix61[absl::StrCat("PMIX_SERVER_URI", n)] = "prterun-vm-1@0.0;tcp4://127.0.0.1:40000";
  }
  upstream::Environment pmix5munge = {
      {"PMIX_NAMESPACE", "slurm.pmix.12.0"},
      {"PMIX_RANK", "0"},
      {"PMIX_SERVER_URI41", "pmix-server.77;tcp4://127.0.0.1:41000"},
      {"PMIX_SERVER_URI21", "pmix-server.77;tcp4://127.0.0.1:41000"},
      {"PMIX_SECURITY_MODE", "munge,native"},
      {"PMIX_GDS_MODULE", "hash"},
      {"PMIX_VERSION", "5.0.2"},
      {"SLURM_JOB_ID", "12"}};
  upstream::Environment munge_only = pmix5munge;
  munge_only["PMIX_SECURITY_MODE"] = "munge";
  upstream::Environment pmix20 = {{"PMIX_NAMESPACE", "ns"},
                                  {"PMIX_RANK", "0"},
                                  {"PMIX_SERVER_URI2", "pmix-server.5;tcp4://127.0.0.1:42000"}};
  return {
      {"hydra-fd",
       {{"PMI_FD", "6"}, {"PMI_RANK", "0"}, {"PMI_SIZE", "2"}, {"HYDI_CONTROL_FD", "7"}}},
      {"hydra-port", {{"PMI_PORT", "vm:33605"}, {"PMI_ID", "0"}, {"HYDI_CONTROL_FD", "7"}}},
      {"slurm-pmi2",
       {{"PMI_FD", "5"},
        {"PMI_RANK", "0"},
        {"PMI_SIZE", "2"},
        {"PMI_JOBID", "12.0"},
        {"SLURM_JOB_ID", "12"}}},
      {"flux",
       {{"PMI_FD", "5"},
        {"PMI_RANK", "0"},
        {"PMI_SIZE", "2"},
        {"FLUX_URI", "local:///run/flux/local"}}},
      {"ompi-4.1", ompi41},
      {"pmix-6.1", pmix61},
      {"pmix-5-munge", pmix5munge},
      {"pmix-5-munge-only", munge_only},
      {"pmix-2.0", pmix20},
      {"none", {}},
  };
}

ContainerFacts Network(const std::string& mode, bool remapped = false) {
  ContainerFacts facts;
  facts.known = true;
  facts.network = mode;
  facts.user_namespace = remapped;
  facts.uid_remapped = remapped;
  return facts;
}

struct Case {
  std::string image;
  std::string host;
  ContainerFacts container;
  std::string outcome;
  std::string run_fix;                                      // "" = no run fix
  std::vector<std::pair<std::string, std::string>> fixes;   // must be present
  std::vector<std::pair<std::string, std::string>> absent;  // must not be present
};

std::string Bridge(const std::string& downstream) {
  return absl::StrCat("pmi-bridge exec --downstream ", downstream,
                      " -- ENGINE run ... IMAGE pmi-shim-client exec -- APP");
}

const std::pair<std::string, std::string> kGdsHash = {"env", "PMIX_MCA_gds=hash"};
const std::pair<std::string, std::string> kMunge = {"bind", "/run/munge"};
const std::pair<std::string, std::string> kHook = {
    "flag",
    "--annotation org.pmi-shim.enable=true (the hook relays 127.0.0.1:PORT inside the container's "
    "network namespace)"};

std::vector<Case> Cases() {
  const ContainerFacts priv = Network("private"), host = Network("host"), unknown;
  return {
      // PMI-wire hosts.
      {"mpich-4.0.2", "hydra-fd", priv, kOutcomeBridge, Bridge("pmi1"), {}, {}},
      {"mpich-4.0.2", "hydra-port", host, kOutcomeDirect, "", {}, {}},
      {"mpich-4.0.2", "hydra-port", priv, kOutcomeBridge, Bridge("pmi1"), {}, {}},
      {"mpich-3.4.3", "slurm-pmi2", priv, kOutcomeBridge, Bridge("pmi1"), {}, {}},
      {"mpich-4.1.2", "flux", priv, kOutcomeBridge, Bridge("pmi1"), {}, {}},
      {"slurm-libpmi2", "hydra-port", host, kOutcomeBridge, Bridge("pmi2"), {}, {}},
      {"slurm-libpmi2", "flux", priv, kOutcomeBridge, Bridge("pmi2"), {}, {}},
      {"mvapich2-2.3.7", "slurm-pmi2", priv, kOutcomeBridge, Bridge("pmi1"), {}, {}},
      {"intel-mpi-2021.10", "hydra-fd", priv, kOutcomeBridge, Bridge("pmi1"), {}, {}},
      {"ompi-4.1.4-pmix-4.2.2", "hydra-fd", priv, kOutcomeBridge, Bridge("pmix"), {}, {}},
      {"ompi-4.1.4-pmix-4.2.2", "flux", priv, kOutcomeBridge, Bridge("pmix"), {}, {}},
      // PMIx hosts, PMI clients.
      {"mpich-4.0.2", "ompi-4.1", priv, kOutcomeBridge, Bridge("pmi1"), {}, {}},
      {"intel-mpi-2021.10", "ompi-4.1", priv, kOutcomeBridge, Bridge("pmi1"), {}, {}},
      {"slurm-libpmi2", "pmix-5-munge", priv, kOutcomeBridge, Bridge("pmi2"), {}, {}},
      // PMIx x PMIx.
      {"ompi-4.1.4-pmix-4.2.2",
       "ompi-4.1",
       priv,
       kOutcomeDirectWithHook,
       "",
       {kGdsHash, kHook},
       {kMunge}},
      {"ompi-4.1.4-pmix-4.2.2", "ompi-4.1", host, kOutcomeDirect, "", {kGdsHash}, {kHook}},
      {"ompi-4.1.4-pmix-4.2.2-hash-only",
       "ompi-4.1",
       priv,
       kOutcomeDirectWithHook,
       "",
       {kHook},
       {kGdsHash}},
      {"ompi-4.1.4-pmix-4.2.2",
       "ompi-4.1",
       Network("private", true),
       kOutcomeBridge,
       Bridge("pmix"),
       {},
       {}},
      {"ompi-5.0.2-pmix-5.0.2-munge",
       "pmix-5-munge",
       priv,
       kOutcomeDirectWithHook,
       "",
       {kMunge},
       {kGdsHash}},
      {"ompi-5.0.2-pmix-5.0.2-nomunge",
       "pmix-5-munge",
       priv,
       kOutcomeDirectWithHook,
       "",
       {},
       {kMunge}},
      {"ompi-5.0.2-pmix-5.0.2-nomunge",
       "pmix-5-munge-only",
       priv,
       kOutcomeIncompatible,
       "",
       {},
       {}},
      {"ompi-5.0.2-pmix-5.0.2-munge",
       "pmix-6.1",
       priv,
       kOutcomeDirectWithHook,
       "",
       {kGdsHash},
       {kMunge}},
      {"ompi-3.1.6-embedded-pmix-3.1.5",
       "ompi-4.1",
       unknown,
       kOutcomeDirectWithHook,
       "",
       {kGdsHash},
       {}},
      {"ompi-2-pmix-1.2.5",
       "ompi-4.1",
       priv,
       kOutcomeBridge,
       "pmi-bridge exec --downstream pmix1 -- ENGINE run ... IMAGE pmi-shim-client exec -- APP",
       {{"rebuild",
         "use PMIx >= 2.1.1 in the image (any client talks to any server from 2.1.1 on)"}},
       {}},
      {"ompi-2-pmix-1.2.5",
       "hydra-fd",
       priv,
       kOutcomeBridge,
       "pmi-bridge exec --downstream pmix1 -- ENGINE run ... IMAGE pmi-shim-client exec -- APP",
       {},
       {}},
      {"pmix-1.2.5-and-mpich", "pmix-6.1", priv, kOutcomeBridge, Bridge("pmi1"), {}, {}},
      {"pmix-2.0.3",
       "pmix-6.1",
       priv,
       kOutcomeDirectWithHook,
       "",
       {{"env", "PMIX_SERVER_URI2=<value of PMIX_SERVER_URI20>"}},
       {}},
      {"pmix-2.0.3",
       "ompi-4.1",
       host,
       kOutcomeDirect,
       "",
       {},
       {{"env", "PMIX_SERVER_URI2=<value of PMIX_SERVER_URI20>"}}},
      {"pmix-2.1.4", "pmix-2.0", priv, kOutcomeIncompatible, "", {}, {}},
      // More client builds.
      {"pmix-3.2.5-client",
       "ompi-4.1",
       priv,
       kOutcomeDirectWithHook,
       "",
       {kGdsHash, kHook},
       {kMunge}},
      {"pmix-4.2.2-client-munge",
       "pmix-5-munge",
       priv,
       kOutcomeDirectWithHook,
       "",
       {kMunge},
       {kGdsHash}},
      {"pmix-4.2.2-client-hash", "ompi-4.1", host, kOutcomeDirect, "", {}, {kGdsHash, kHook}},
      {"pmix-4.2.2-client-hash", "hydra-fd", priv, kOutcomeBridge, Bridge("pmix"), {}, {}},
      {"mpich-3.4.3-and-slurm-libpmi2", "slurm-pmi2", priv, kOutcomeBridge, Bridge("pmi1"), {}, {}},
      {"mvapich2-and-slurm-libpmi2", "hydra-port", host, kOutcomeDirect, "", {}, {}},
      {"mvapich2-and-slurm-libpmi2", "ompi-4.1", priv, kOutcomeBridge, Bridge("pmi1"), {}, {}},
      // Nothing to meet.
      {"empty", "hydra-fd", priv, kOutcomeNoClient, "", {}, {}},
      {"mpich-4.0.2",
       "none",
       priv,
       kOutcomeNoHost,
       "pmi-bridge launch -n N --protocol pmi1 -- ENGINE run ... IMAGE pmi-shim-client exec -- APP",
       {},
       {}},
  };
}

class DiagnoseFixtureTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    root_ = new std::string(image::testing::MakeTempDir("images"));
    images_ = new std::map<std::string, ImageReport>();
    for (const auto& [name, libs] : Images()) {
      const std::string dir = absl::StrCat(*root_, "/", name);
      mkdir(dir.c_str(), 0755);
      for (const FixtureLibrary& lib : libs) {
        ASSERT_OK(image::testing::WriteLibrary(dir, lib)) << name;
      }
      absl::StatusOr<ImageReport> report = ScanImage(dir);
      ASSERT_OK(report);
      (*images_)[name] = *report;
    }
  }
  static const ImageReport& Image(const std::string& name) { return images_->at(name); }
  static std::string* root_;
  static std::map<std::string, ImageReport>* images_;
};
std::string* DiagnoseFixtureTest::root_ = nullptr;
std::map<std::string, ImageReport>* DiagnoseFixtureTest::images_ = nullptr;

TEST_F(DiagnoseFixtureTest, ImagesAreReadAsBuilt) {
  struct Expect {
    std::string image, mpi, mpi_version, pmix, default_protocol, protocols;
  };
  const std::vector<Expect> expects = {
      {"mpich-4.0.2", "mpich", "4.0.2", "", "PMI-1", "PMI-1"},
      {"mpich-3.4.3", "mpich", "3.4.3", "", "PMI-1", "PMI-1"},
      {"mpich-4.1.2", "mpich", "4.1.2", "", "PMI-1", "PMI-1,PMI-2"},
      {"ompi-4.1.4-pmix-4.2.2", "openmpi", "4.1.4", "4.2.2", "PMIx", "PMIx"},
      {"ompi-5.0.2-pmix-5.0.2-munge", "openmpi", "5.0.2", "5.0.2", "PMIx", "PMIx"},
      {"ompi-3.1.6-embedded-pmix-3.1.5", "openmpi", "3.1.6", "3.1.5", "PMIx", "PMIx"},
      {"ompi-2-pmix-1.2.5", "openmpi", "2.1.6", "1.2.5", "PMIx", "PMIx"},
      {"pmix-2.0.3", "", "", "2.0.3", "PMIx", "PMIx"},
      {"intel-mpi-2021.10", "intel-mpi", "2021.10", "", "PMI-1", "PMI-1,PMI-2"},
      {"mvapich2-2.3.7", "mvapich", "2.3.7", "", "PMI-1", "PMI-1,PMI-2"},
      {"slurm-libpmi2", "", "", "", "PMI-2", "PMI-2"},
      {"empty", "", "", "", "", ""},
  };
  for (const Expect& e : expects) {
    const ImageReport& r = Image(e.image);
    EXPECT_EQ(r.mpi_family, e.mpi) << e.image;
    EXPECT_EQ(r.mpi_version, e.mpi_version) << e.image;
    EXPECT_EQ(r.pmix_version, e.pmix) << e.image;
    EXPECT_EQ(r.default_protocol, e.default_protocol) << e.image;
    EXPECT_EQ(absl::StrJoin(r.client_protocols, ","), e.protocols) << e.image;
  }
  const ImageReport& munge = Image("ompi-5.0.2-pmix-5.0.2-munge");
  EXPECT_TRUE(munge.HasComponent("psec/munge"));  // from the plugin file
  EXPECT_TRUE(munge.HasComponent("gds/shmem2"));  // built in
  const ImageReport& pmix4 = Image("ompi-4.1.4-pmix-4.2.2");
  EXPECT_TRUE(pmix4.HasComponent("gds/ds21"));
  // libpmix.so.2 -> libpmix.so.2.0.0 is one library, reported once.
  int pmix_libs = 0;
  for (const LibraryInfo& lib : pmix4.libraries) pmix_libs += lib.family == kFamilyPmix;
  EXPECT_EQ(pmix_libs, 1);
}

TEST_F(DiagnoseFixtureTest, VerdictTable) {
  const std::map<std::string, upstream::Environment> hosts = Hosts();
  const std::vector<Case> cases = Cases();
  ASSERT_GE(cases.size(), 20u);
  for (const Case& c : cases) {
    SCOPED_TRACE(absl::StrCat(c.image, " under ", c.host, " (network ", c.container.network, ")"));
    HostReport host = AnalyzeHost(hosts.at(c.host), c.host);
    Verdict v = Decide(host, Image(c.image), c.container);
    EXPECT_EQ(v.outcome, c.outcome) << FormatVerdict(v);
    EXPECT_EQ(testing::RunFix(v), c.run_fix) << FormatVerdict(v);
    for (const auto& [kind, text] : c.fixes)
      EXPECT_TRUE(testing::HasFix(v, kind, text)) << kind << ": " << text << "\n"
                                                  << FormatVerdict(v);
    for (const auto& [kind, text] : c.absent)
      EXPECT_FALSE(testing::HasFix(v, kind, text)) << kind << ": " << text << "\n"
                                                   << FormatVerdict(v);
    EXPECT_FALSE(v.summary.empty());
    for (const Fix& fix : v.fixes) EXPECT_FALSE(fix.why.empty()) << fix.text;
  }
}

TEST_F(DiagnoseFixtureTest, HostsAreRecognised) {
  const std::map<std::string, upstream::Environment> hosts = Hosts();
  EXPECT_EQ(AnalyzeHost(hosts.at("hydra-fd"), "t").launcher, kLauncherHydra);
  EXPECT_EQ(AnalyzeHost(hosts.at("hydra-port"), "t").rendezvous, "PMI_PORT");
  EXPECT_EQ(AnalyzeHost(hosts.at("slurm-pmi2"), "t").launcher, kLauncherSlurmPmi2);
  EXPECT_EQ(absl::StrJoin(AnalyzeHost(hosts.at("flux"), "t").server_protocols, ","), "PMI-1");
  HostReport ompi = AnalyzeHost(hosts.at("ompi-4.1"), "t");
  EXPECT_EQ(ompi.launcher, kLauncherOpenMpi);
  EXPECT_EQ(ompi.pmix_version, "4.2.2rc2");
  EXPECT_TRUE(ompi.pmix_loopback);
  EXPECT_TRUE(ompi.UsesSharedMemoryGds());
  HostReport v20 = AnalyzeHost(hosts.at("pmix-2.0"), "t");
  EXPECT_EQ(v20.pmix_version, "2.0");
  EXPECT_TRUE(v20.pmix_version_inferred);
  EXPECT_EQ(AnalyzeHost(hosts.at("pmix-5-munge"), "t").launcher, kLauncherSlurmPmix);
}

TEST(ContainerFactsTest, ReadsNamespacesAndMappings) {
  absl::StatusOr<ContainerFacts> facts = ParseContainerFacts(R"({
    "root": {"path": "rootfs"}, "process": {"user": {"uid": 1000}},
    "linux": {"namespaces": [{"type": "pid"}, {"type": "network"}, {"type": "user"}, {"type": "ipc"}],
              "uidMappings": [{"containerID": 0, "hostID": 100000, "size": 65536}]}})");
  ASSERT_OK(facts);
  EXPECT_EQ(facts->network, "private");
  EXPECT_TRUE(facts->uid_remapped);
  EXPECT_TRUE(facts->private_ipc);
  EXPECT_EQ(facts->process_uid, 1000);
  facts = ParseContainerFacts(
      R"({"linux": {"namespaces": [{"type": "network", "path": "/proc/1/ns/net"}]}})");
  ASSERT_OK(facts);
  EXPECT_EQ(facts->network, "joined");
  facts = ParseContainerFacts(R"({"linux": {"namespaces": [{"type": "mount"}]}})");
  ASSERT_OK(facts);
  EXPECT_EQ(facts->network, "host");
  EXPECT_FALSE(ParseContainerFacts("[1,2").ok());
}

}  // namespace
}  // namespace pmi_shim::diagnose
