#include "bridge/diagnose/matrix.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace pmi_shim::diagnose {

const std::vector<MatrixCell>& TranslationMatrix() {
  static const auto* cells = new std::vector<MatrixCell>{
      {"PMI-1 server (hydra, Flux)",
       "PMI-1",
       true,
       "relay: the bridge serves the rank's PMI-1 client and forwards to PMI_FD/PMI_PORT",
       {"//test/e2e:exec_hydra_test ExecHydraTest.MpiCollectivesThroughTheBridge",
        "//test/e2e:exec_hydra_test ExecHydraTest.RawPmi1AbortCarriesTheExitCode"}},
      {"PMI-1 server (hydra, Flux)",
       "PMI-2",
       true,
       "translate: PMI-2 requests become PMI-1 (kvs-fence -> barrier_in)",
       {"//test/e2e:exec_hydra_test ExecHydraUpstreamTest.Pmi2KvsOverPmiFd (upstream pmi1)"}},
      {"PMI-1 server (hydra, Flux)",
       "PMIx",
       true,
       "the bridge hosts a PMIx server (libpmix server API) over the host KVS and barrier",
       {"//test/e2e:exec_pmix_test ExecPmixHydraTest.OpenMpiClientThroughEmbeddedPmixServer",
        "//test/e2e:exec_pmix_test ExecPmixHydraTest.LibpmixProbeThroughEmbeddedPmixServer"}},
      {"PMI-1 server (hydra, Flux)",
       "PMIx v1.2 (usock)",
       true,
       "native PMIx v1.2 endpoint (no libpmix): usock handshake, ds12 store, fence/get over the "
       "host KVS and barrier",
       {"//test/e2e:exec_pmix_v1_test ExecPmixV1HydraTest.AutoServesTheV1ClientAndEveryKeyArrives",
        "//test/e2e:exec_pmix_v1_test ExecPmixV1Test.HydraAbortEndsTheJobWithItsCodeAndMessage",
        "//test/e2e:multinode_test MultiNodeTest.HydraPmixV1ClientsThroughBridges",
        "//test/containers:flow_pmix_v1_test "
        "FlowTest.PmixV1ClientInRuncWithPrivateNetworkUnderHydra"}},
      {"PMI-2 server (hydra, Slurm)",
       "PMI-1",
       true,
       "translate: PMI-1 requests become PMI-2",
       {"//test/e2e:exec_slurm_test ExecSlurmTest.BridgedMpiCollectives"}},
      {"PMI-2 server (hydra, Slurm)",
       "PMI-2",
       true,
       "relay + dialect repair (fullinit pmirank/pmijobid/threaded, reply superset)",
       {"//test/e2e:exec_hydra_test ExecHydraPmi2Test.Pmi2KvsInPortModeIsRepairedByTheBridge",
        "//test/e2e:exec_hydra_test ExecHydraUpstreamTest.Pmi2KvsOverPmiFd (upstream pmi2)",
        "//test/e2e:exec_slurm_test ExecSlurmUpstreamTest.BridgedPmi2Kvs"}},
      {"PMI-2 server (hydra, Slurm)",
       "PMIx",
       true,
       "the bridge hosts a PMIx server",
       {"//test/e2e:exec_slurm_test ExecSlurmTest.Pmi2HostServesOpenMpiThroughTheBridge"}},
      {"PMI-2 server (hydra, Slurm)",
       "PMIx v1.2 (usock)",
       true,
       "native PMIx v1.2 endpoint over the host KVS and barrier",
       {"//test/e2e:exec_pmix_v1_test ExecPmixV1SlurmTest.SrunServesTheV1ClientThroughTheBridge "
        "(pmi2)"}},
      {"PMIx server (mpirun, PRRTE, Slurm)",
       "PMI-1",
       true,
       "the bridge is a libpmix client and serves PMI-1",
       {"//test/e2e:exec_pmix_test ExecPmixTest.MpirunHostMpichClientThroughPmi1",
        "//test/e2e:exec_slurm_test ExecSlurmTest.PmixHostServesMpichThroughTheBridge"}},
      {"PMIx server (mpirun, PRRTE, Slurm)",
       "PMI-2",
       true,
       "the bridge is a libpmix client and serves PMI-2",
       {"//test/e2e:exec_pmix_test ExecPmixTest.MpirunHostSlurmPmi2ClientThroughPmi2",
        "//test/e2e:exec_slurm_test ExecSlurmTest.PmixHostServesLibpmi2ThroughTheBridge"}},
      {"PMIx server (mpirun, PRRTE, Slurm)",
       "PMIx",
       true,
       "byte relay of the PMIx TCP connection (credential rewrite for user namespaces)",
       {"//test/e2e:exec_pmix_test ExecPmixTest.MpirunHostOpenMpiClientThroughRelay",
        "//test/e2e:exec_pmix_test ExecPmixTest.RelayCarriesTheTrafficThroughTheBridgesOwnListener",
        "//test/e2e:exec_slurm_test ExecSlurmTest.PmixHostRelaysOpenMpiThroughTheBridge"}},
      {"PMIx server (mpirun, PRRTE, Slurm)",
       "PMIx v1.2 (usock)",
       true,
       "native PMIx v1.2 endpoint; the bridge is a libpmix client upstream (PMIx >= 4 servers have "
       "no usock)",
       {"//test/e2e:exec_pmix_v1_test ExecPmixV1Test.MpirunHostServesTheV1ClientThroughTheBridge",
        "//test/e2e:multinode_test MultiNodeTest.OpenMpiHostPmixV1ClientsThroughBridges",
        "//test/e2e:exec_pmix_v1_test ExecPmixV1SlurmTest.SrunServesTheV1ClientThroughTheBridge "
        "(pmix)"}},
      {"none: embedded (pmi-bridge launch)",
       "PMIx v1.2 (usock)",
       true,
       "built-in KVS through one native v1.2 endpoint per rank",
       {"//test/e2e:exec_pmix_v1_test ExecPmixV1Test.LaunchServesV1ClientsFromItsEmbeddedHost"}},
      {"none: embedded (pmi-bridge launch)",
       "PMI-1",
       true,
       "built-in KVS",
       {"//test/e2e:launch_mpich_test LaunchMpichTest.CollectivesAgreeOnEveryRank"}},
      {"none: embedded (pmi-bridge launch)",
       "PMI-2",
       true,
       "built-in KVS",
       {"//test/e2e:launch_pmi2_test LaunchPmi2Test.KvsRoundTripAndProcessMapping"}},
      {"none: embedded (pmi-bridge launch)",
       "PMIx",
       true,
       "built-in KVS through the libpmix server",
       {"//test/e2e:launch_pmix_test LaunchPmixTest.OpenMpiProgramJoinsOneJob",
        "//test/e2e:launch_pmix_test LaunchPmixTest.LibpmixProbeExchangesValues"}},
  };
  return *cells;
}

const std::vector<PmixVersionFact>& PmixCrossVersionFacts() {
  static const auto* facts = new std::vector<PmixVersionFact>{
      {">= 2.1.1", ">= 2.1.1", "yes (message exchange; features may differ)",
       "protocols.md §4.6 (docs/versions.rst)"},
      {"1.2.x", "1.2.5", "yes (usock)", "protocols.md §4.6"},
      {"1.2.5", "2.0.3", "docs: yes; NEWS/code: no (usock removed in 2.0.3)",
       "protocols.md §4.6, §8 row 18"},
      {"1.2.5", "2.1.x / 3.x",
       "only with the server's usock listener enabled (PMIX_USOCK_DISABLE=false)",
       "protocols.md §4.2, §8 row 19"},
      {"1.x", ">= 4.0",
       "no: v1.x is usock-only, v4.0 removed usock (pmi-bridge exec --downstream pmix1 serves it)",
       "protocols.md §4.3, §4.6, §8 row 19"},
      {"2.0.x", "2.0.3", "yes", "protocols.md §4.6"},
      {">= 2.1", "2.0.3", "no: 2.0.3 serves only 2.0.x and 1.2.5 clients", "protocols.md §4.6"},
      {"2.0.x", ">= 2.1.1 and < 6.1", "yes (PMIX_SERVER_URI2)", "protocols.md §4.2, §4.6"},
      {"2.0.x", ">= 6.1",
       "no by default: the server exports URI20, not URI2; set PMIX_SERVER_URI2 from URI20",
       "protocols.md §4.2, §8 row 19"},
      {"5.0.0", "5.0.1 (and back)", "only with PMIX_MCA_gds=hash (shared-memory gds incompatible)",
       "protocols.md §4.6"},
      {"2.0-3.x", "server nspace with dots",
       "client mis-records the server id (first-dot split); harmless",
       "protocols.md §4.2, §8 row 20"},
      {"any", "PRRTE v3 host",
       "PRRTE v3 refuses PMIx >= 6.0 at build time: host stacks pair versions",
       "protocols.md §4.6"},
  };
  return *facts;
}

std::string FormatMatrix() {
  std::string out = "Translation matrix (host server x container client), as built:\n";
  for (const MatrixCell& c : TranslationMatrix()) {
    absl::StrAppend(&out, "  ", c.host, " x ", c.client, ": ", c.supported ? "yes" : "no", " - ",
                    c.how, "\n");
    for (const std::string& t : c.tests) absl::StrAppend(&out, "      tested by ", t, "\n");
  }
  absl::StrAppend(&out, "\nPMIx cross-version facts (client -> server):\n");
  for (const PmixVersionFact& f : PmixCrossVersionFacts()) {
    absl::StrAppend(&out, "  client ", f.client, " -> server ", f.server, ": ", f.works, "  [",
                    f.source, "]\n");
  }
  return out;
}

nlohmann::json MatrixToJson() {
  nlohmann::json cells = nlohmann::json::array(), facts = nlohmann::json::array();
  for (const MatrixCell& c : TranslationMatrix()) {
    cells.push_back({{"host", c.host},
                     {"client", c.client},
                     {"supported", c.supported},
                     {"how", c.how},
                     {"tests", c.tests}});
  }
  for (const PmixVersionFact& f : PmixCrossVersionFacts()) {
    facts.push_back(
        {{"client", f.client}, {"server", f.server}, {"works", f.works}, {"source", f.source}});
  }
  return {{"schema", "pmi-shim.matrix/1"}, {"matrix", cells}, {"pmix_versions", facts}};
}

}  // namespace pmi_shim::diagnose
