// Test helpers: what a test asks of a Verdict's fixes.
#ifndef PMI_SHIM_BRIDGE_DIAGNOSE_TESTING_VERDICT_QUERIES_H_
#define PMI_SHIM_BRIDGE_DIAGNOSE_TESTING_VERDICT_QUERIES_H_

#include <algorithm>
#include <string>

#include "bridge/diagnose/verdict.h"

namespace pmi_shim::diagnose::testing {

// The `run` fix's text, or "" when the verdict has none.
inline std::string RunFix(const Verdict& verdict) {
  for (const Fix& fix : verdict.fixes) {
    if (fix.kind == "run") return fix.text;
  }
  return "";
}

inline bool HasFix(const Verdict& verdict, const std::string& kind, const std::string& text) {
  return std::any_of(verdict.fixes.begin(), verdict.fixes.end(),
                     [&](const Fix& f) { return f.kind == kind && f.text == text; });
}

}  // namespace pmi_shim::diagnose::testing

#endif  // PMI_SHIM_BRIDGE_DIAGNOSE_TESTING_VERDICT_QUERIES_H_
