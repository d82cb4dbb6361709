// The applied-record: what pmi-shim-hook did to one container, kept in
// STATE_DIR/<container-id>.json so that poststop (or the undo of a failed
// createRuntime) removes exactly that and nothing else.
//
// The record is written BEFORE each step (the step marked pending) and again
// after it, so a hook killed half-way still leaves enough to clean up from.
// Pure encode/decode here; the file I/O lives in apply.cc.
//
//   {"version":1,"container_id":"c1","pid":123,"rootfs":"/b/rootfs",
//    "mounts":[{"source":"/run/user/1000/pmi-shim/r0","target":"/run/pmi-shim",
//               "done":true,"created":["/run","/run/pmi-shim"]}],
//    "relays":[{"address":"127.0.0.1","port":5000,"pid":456,"start_time":789}]}
#ifndef PMI_SHIM_HOOK_APPLY_APPLIED_RECORD_H_
#define PMI_SHIM_HOOK_APPLY_APPLIED_RECORD_H_

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace pmi_shim::hook {

struct AppliedMount {
  std::string source;
  std::string target;                // inside the container
  bool done = false;                 // false: started, maybe half-way (pending)
  std::vector<std::string> created;  // container paths made for it, parents first
};

struct AppliedRelay {
  std::string address;
  int port = 0;
  pid_t pid = 0;            // 0: not started yet (pending)
  uint64_t start_time = 0;  // field 22 of /proc/PID/stat: tells a recycled pid apart
};

struct AppliedRecord {
  std::string container_id;
  pid_t pid = 0;  // the container's init when the record was made
  std::string rootfs;
  std::vector<AppliedMount> mounts;
  std::vector<AppliedRelay> relays;
};

std::string EncodeRecord(const AppliedRecord& record);
// InvalidArgument naming the problem for malformed text or a wrong version.
absl::StatusOr<AppliedRecord> DecodeRecord(const std::string& text);

// A container id usable as a file name: [A-Za-z0-9_.-]{1,256}, not "." or "..".
bool IsSafeContainerId(const std::string& id);

}  // namespace pmi_shim::hook

#endif  // PMI_SHIM_HOOK_APPLY_APPLIED_RECORD_H_
