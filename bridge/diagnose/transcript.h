// Transcript: a decoded, timestamped record of the PMI-1/PMI-2 messages
// between clients and their server, with the mismatches it recognises
// flagged in one line each. Used by `pmi-bridge trace` and, through the same
// class, by `pmi-bridge exec --trace FILE`.
//
//   MismatchChecker is pure: it sees every message of both directions and
//   returns explanations (protocols.md §2.2, §6, §8).
//
//   Transcript transcript(file, Transcript::Format::kHuman, absl::Now());
//   transcript.Record(absl::Now(), rank, Direction::kClientToServer, message, raw_bytes);
//   transcript.RecordClose(absl::Now(), rank, Direction::kServerToClient);  // server closed
//
// Human lines:  "+0.012345 rank 0 C->S cmd=init pmi_version=1 pmi_subversion=1"
//               "+0.012400 rank 0 !! <explanation>"
// JSON lines (--json): {"t":0.012345,"rank":0,"dir":"c2s","cmd":"init",
//   "fields":[["pmi_version","1"],...],"raw":"cmd=init ..."} and
//   {"t":...,"rank":0,"mismatch":"<explanation>"}; {"t":...,"rank":0,"close":"server"}.
// Thread-safe (one mutex): exec bridges may record from several threads.
#ifndef PMI_SHIM_BRIDGE_DIAGNOSE_TRANSCRIPT_H_
#define PMI_SHIM_BRIDGE_DIAGNOSE_TRANSCRIPT_H_

#include <cstdio>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "protocol/pmi/message.h"

namespace pmi_shim::diagnose {

enum class Direction { kClientToServer, kServerToClient };

class MismatchChecker {
 public:
  // Explanations (possibly none) for this message, given what came before.
  std::vector<std::string> Check(int rank, Direction direction, const wire::Message& message,
                                 absl::string_view raw);
  // `closer` closed the connection (kServerToClient: the server did).
  std::vector<std::string> CheckClose(int rank, Direction closer);

 private:
  struct RankState {
    std::optional<wire::Message> pending_request;   // last client request not yet answered
    int requested_version = 0;                      // pmi_version of the client's init
    std::optional<int64_t> keylen_max, vallen_max;  // from maxes
    bool fullinit_without_pmirank = false;
    bool finalized = false;
  };
  static std::vector<std::string> CheckRequest(RankState& state, const wire::Message& m);
  static std::vector<std::string> CheckReply(RankState& state, const wire::Message& m);
  static void PutProblems(const RankState& state, const wire::Message& m,
                          std::vector<std::string>& found);

  std::map<int, RankState> ranks_;
};

class Transcript {
 public:
  enum class Format { kHuman, kJson };

  // Writes to `out` (not owned, must outlive this), times relative to `start`.
  Transcript(std::FILE* out, Format format, absl::Time start);

  void Record(absl::Time when, int rank, Direction direction, const wire::Message& message,
              absl::string_view raw);
  void RecordClose(absl::Time when, int rank, Direction closer);
  // A free-form note (e.g. PMIx connection facts); one line.
  void Note(absl::Time when, int rank, absl::string_view text);

  // Every mismatch reported so far, in order.
  std::vector<std::string> mismatches() const;

 private:
  void Flag(double t, int rank, const std::vector<std::string>& found);

  std::FILE* out_;
  Format format_;
  absl::Time start_;
  mutable std::mutex mu_;
  MismatchChecker checker_;
  std::vector<std::string> mismatches_;
};

}  // namespace pmi_shim::diagnose

#endif  // PMI_SHIM_BRIDGE_DIAGNOSE_TRANSCRIPT_H_
