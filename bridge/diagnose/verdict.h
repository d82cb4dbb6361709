// Verdict: can the host's PMI server and the image's PMI client meet, and
// if not, the exact fix. Pure and rule-based: every rule cites the fact it
// rests on (reference/protocols.md sections, design.md §3 matrix cells).
//
//   Verdict v = Decide(host, image, container);
//   v.outcome;   // "direct", "direct-with-hook", "bridge", "incompatible", "no-host", "no-client"
//   v.fixes;     // [{kind: "run", text: "pmi-bridge exec --downstream pmi1 -- ..."}, ...]
#ifndef PMI_SHIM_BRIDGE_DIAGNOSE_VERDICT_H_
#define PMI_SHIM_BRIDGE_DIAGNOSE_VERDICT_H_

#include <string>
#include <vector>

#include "bridge/diagnose/container_facts.h"
#include "bridge/diagnose/host_analysis.h"
#include "image/image_scan.h"
#include "nlohmann/json.hpp"

namespace pmi_shim::diagnose {

inline constexpr char kOutcomeDirect[] = "direct";
inline constexpr char kOutcomeDirectWithHook[] = "direct-with-hook";
inline constexpr char kOutcomeBridge[] = "bridge";
inline constexpr char kOutcomeIncompatible[] = "incompatible";
inline constexpr char kOutcomeNoHost[] = "no-host";
inline constexpr char kOutcomeNoClient[] = "no-client";

struct Fix {
  // "run" (how to start the rank), "env" (NAME=value to set in the
  // container), "bind" (host path to bind into the container), "flag" (an
  // engine or launcher option), "rebuild" (the image must change).
  std::string kind;
  std::string text;
  std::string why;  // the fact, with its reference section
  friend bool operator==(const Fix& a, const Fix& b) {
    return a.kind == b.kind && a.text == b.text;
  }
};

struct Verdict {
  std::string outcome;
  std::string client_protocol;  // what the image's client will speak
  std::string summary;          // one line
  std::vector<Fix> fixes;
  std::vector<std::string> problems;  // one line each, with the reference
};

Verdict Decide(const HostReport& host, const image::ImageReport& image,
               const ContainerFacts& container);

std::string FormatVerdict(const Verdict& verdict);
nlohmann::json VerdictToJson(const Verdict& verdict);

}  // namespace pmi_shim::diagnose

#endif  // PMI_SHIM_BRIDGE_DIAGNOSE_VERDICT_H_
