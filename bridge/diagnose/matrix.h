// The translation matrix as built (design.md §3), each cell with how it
// works and which real-peer end-to-end tests cover it, plus the PMIx
// cross-version facts (reference/protocols.md §4.6, §8 rows 18-20). Data only.
#ifndef PMI_SHIM_BRIDGE_DIAGNOSE_MATRIX_H_
#define PMI_SHIM_BRIDGE_DIAGNOSE_MATRIX_H_

#include <string>
#include <vector>

#include "nlohmann/json.hpp"

namespace pmi_shim::diagnose {

struct MatrixCell {
  std::string host;    // "PMI-1 server (hydra, Flux)", ...
  std::string client;  // "PMI-1", "PMI-2", "PMIx"
  bool supported = false;
  std::string how;
  std::vector<std::string>
      tests;  // "//test/e2e:exec_hydra_test ExecHydraTest.MpiCollectivesThroughTheBridge"
};

struct PmixVersionFact {
  std::string client;
  std::string server;
  std::string works;  // "yes", "no", "with ..."
  std::string source;
};

const std::vector<MatrixCell>& TranslationMatrix();
const std::vector<PmixVersionFact>& PmixCrossVersionFacts();

std::string FormatMatrix();
nlohmann::json MatrixToJson();

}  // namespace pmi_shim::diagnose

#endif  // PMI_SHIM_BRIDGE_DIAGNOSE_MATRIX_H_
