// The messages a real OpenPMIx 1.2.5 client sent (testdata/
// v125_client_messages.txt, made by testdata/capture_v125.py), for tests.
#ifndef PMI_SHIM_PROTOCOL_PMIX_V1_CAPTURE_FIXTURE_H_
#define PMI_SHIM_PROTOCOL_PMIX_V1_CAPTURE_FIXTURE_H_

#include <fstream>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/escaping.h"
#include "test/testing/runfiles.h"

namespace pmi_shim::protocol::pmix_v1::testing {

// (name, bytes) in capture order; empty if the file is missing.
inline std::vector<std::pair<std::string, std::string>> CapturedMessages() {
  std::vector<std::pair<std::string, std::string>> out;
  absl::StatusOr<std::string> path =
      testutil::Runfile("protocol/pmix_v1/testdata/v125_client_messages.txt");
  if (!path.ok()) return out;
  std::ifstream in(*path);
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    std::istringstream fields(line);
    std::string name, hex;
    fields >> name >> hex;
    out.emplace_back(name, absl::HexStringToBytes(hex));
  }
  return out;
}

// The first captured message called `name` ("" if none).
inline std::string Captured(const std::string& name, int nth = 0) {
  for (const auto& [n, bytes] : CapturedMessages()) {
    if (n == name && nth-- == 0) return bytes;
  }
  return "";
}

}  // namespace pmi_shim::protocol::pmix_v1::testing

#endif  // PMI_SHIM_PROTOCOL_PMIX_V1_CAPTURE_FIXTURE_H_
