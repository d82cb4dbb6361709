// `pmi-bridge trace` at run time: starts COMMAND as a client of the PMI
// server this process's environment names, sits between the two and feeds
// every decoded message to a Transcript.
//
//   PMI_FD:   COMMAND gets one end of a new socketpair as its PMI_FD; the
//             other end is relayed to the real fd (which COMMAND never sees).
//   PMI_PORT: a listener on 127.0.0.1 becomes COMMAND's PMI_PORT; every
//             connection to it is relayed to the real PMI_PORT.
// Bytes pass unchanged, in both directions, as they arrive; decoding is a
// side effect. PMIx hosts are not traced (use `pmi-bridge probe`).
#ifndef PMI_SHIM_BRIDGE_DIAGNOSE_TRACE_RELAY_H_
#define PMI_SHIM_BRIDGE_DIAGNOSE_TRACE_RELAY_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "bridge/diagnose/transcript.h"
#include "bridge/upstream/host_endpoint.h"

namespace pmi_shim::diagnose {

// Runs `command` to completion. Returns its exit status (128+signal when
// killed), or an error (one line) when the relay cannot be set up.
absl::StatusOr<int> RunTrace(const upstream::Environment& env,
                             const std::vector<std::string>& command, Transcript& transcript);

}  // namespace pmi_shim::diagnose

#endif  // PMI_SHIM_BRIDGE_DIAGNOSE_TRACE_RELAY_H_
