#include "bridge/diagnose/transcript.h"

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "nlohmann/json.hpp"
#include "protocol/pmi/commands.h"

namespace pmi_shim::diagnose {
namespace {

bool IsPut(absl::string_view command) {
  return command == "put" || command == "kvs-put" || command == "info-putnodeattr";
}

}  // namespace

// A value with a space, or a key or value over the limits get_maxes gave.
void MismatchChecker::PutProblems(const RankState& state, const wire::Message& m,
                                  std::vector<std::string>& found) {
  const std::string value(m.Find("value").value_or(""));
  const std::string key(m.Find("key").value_or(""));
  if (value.find(' ') != std::string::npos) {
    found.push_back(absl::StrCat(
        "value of key ", key,
        " contains a space: hydra, MPICH and Slurm cut it at the first space, Flux keeps "
        "it to end of line (protocols.md §6 pitfall 1)"));
  }
  // Limits include the terminating NUL (RFC 13): at most max-1 characters.
  if (state.keylen_max && static_cast<int64_t>(key.size()) >= *state.keylen_max) {
    found.push_back(absl::StrCat("key ", key.substr(0, 40), " is ", key.size(),
                                 " bytes, over keylen_max=", *state.keylen_max,
                                 " from get_maxes (protocols.md §6 pitfall 3)"));
  }
  if (state.vallen_max && static_cast<int64_t>(value.size()) >= *state.vallen_max) {
    found.push_back(absl::StrCat("value of key ", key, " is ", value.size(),
                                 " bytes, over vallen_max=", *state.vallen_max,
                                 " from get_maxes (protocols.md §6 pitfall 3)"));
  }
}

std::vector<std::string> MismatchChecker::CheckRequest(RankState& state, const wire::Message& m) {
  std::vector<std::string> found;
  if (m.command == "init") {
    state.requested_version = static_cast<int>(m.FindInt("pmi_version").value_or(0));
  }
  if (m.command == "fullinit" && !m.Has("pmirank")) {
    state.fullinit_without_pmirank = true;
    found.push_back(absl::StrCat(
        "fullinit without pmirank",
        m.Has("srcid") ? " (srcid= instead: Slurm libpmi2 in PMI_PORT mode)" : "",
        ": hydra requires pmirank and fails with \"unable to find pmirank\"; run the rank under "
        "pmi-bridge exec --downstream pmi2, which repairs it (protocols.md §2.2, §8 row 9)"));
  }
  if (IsPut(m.command)) PutProblems(state, m, found);
  if (m.command == "finalize") state.finalized = true;
  if (!wire::IsReplyOnlyCommand(m.command)) state.pending_request = m;
  return found;
}

std::vector<std::string> MismatchChecker::CheckReply(RankState& state, const wire::Message& m) {
  std::vector<std::string> found;
  const std::optional<int64_t> rc = m.FindInt("rc");
  if (m.command == "response_to_init") {
    const int64_t served = m.FindInt("pmi_version").value_or(0);
    if (rc.value_or(0) != 0 ||
        (state.requested_version != 0 && served != state.requested_version)) {
      if (state.requested_version == 1) {
        found.push_back(absl::StrCat(
            "the server refused PMI-1 (answered pmi_version=", served, " rc=", rc.value_or(0),
            "): a PMI-2-only server, or a Slurm step already pinned to PMI-2 by its first "
            "task (protocols.md §1.3, §6 pitfall 16); bridge with pmi-bridge exec"));
      } else if (state.requested_version == 2) {
        found.push_back(absl::StrCat(
            "the server refused PMI-2 (answered pmi_version=", served, " rc=", rc.value_or(0),
            "): Flux has no PMI-2 wire server, a Slurm step may be pinned to PMI-1 "
            "(protocols.md §1.3, §1.9); use pmi-bridge exec --downstream pmi2"));
      }
    }
  }
  if (m.command == "maxes") {
    state.keylen_max = m.FindInt("keylen_max");
    state.vallen_max = m.FindInt("vallen_max");
  }
  if (state.pending_request.has_value()) {
    const wire::Message& request = *state.pending_request;
    if (request.command == "kvs-get" &&
        request.Find("key") == std::optional<absl::string_view>("-NONEXIST-KEY")) {
      if (m.Find("found") == std::optional<absl::string_view>("TRUE")) {
        found.push_back(
            "the server says -NONEXIST-KEY exists: MPICH's PMI-2 barrier idiom expects not-found "
            "(protocols.md §2.6)");
      }
    } else if (rc.has_value() && *rc != 0 && request.command != "init" &&
               request.command != "get" && request.command != "kvs-get" &&
               request.command != "info-getnodeattr") {
      found.push_back(
          absl::StrCat("the server answered ", request.command, " with rc=", *rc,
                       m.Has("msg") ? absl::StrCat(" (", *m.Find("msg"), ")") : "",
                       m.Has("errmsg") ? absl::StrCat(" (", *m.Find("errmsg"), ")") : ""));
    }
    state.pending_request.reset();
  }
  return found;
}

std::vector<std::string> MismatchChecker::Check(int rank, Direction direction,
                                                const wire::Message& m, absl::string_view raw) {
  (void)raw;
  RankState& state = ranks_[rank];
  return direction == Direction::kClientToServer ? CheckRequest(state, m) : CheckReply(state, m);
}

std::vector<std::string> MismatchChecker::CheckClose(int rank, Direction closer) {
  std::vector<std::string> found;
  RankState& state = ranks_[rank];
  if (closer == Direction::kServerToClient && state.pending_request.has_value() &&
      !state.finalized) {
    if (state.fullinit_without_pmirank) {
      found.push_back(
          "the server closed the connection after a fullinit without pmirank: hydra's \"unable to "
          "find "
          "pmirank\" (protocols.md §2.2); run under pmi-bridge exec --downstream pmi2");
    } else {
      found.push_back(absl::StrCat(
          "the server closed the connection instead of answering ", state.pending_request->command,
          " (hydra and Flux end the job on an unknown command, protocols.md §6 pitfall 9)"));
    }
  } else if (closer == Direction::kClientToServer && !state.finalized) {
    found.push_back(
        "the client closed its connection without finalize: hydra ends the whole job (protocols.md "
        "§6 pitfall 10)");
  }
  state.pending_request.reset();
  return found;
}

Transcript::Transcript(std::FILE* out, Format format, absl::Time start)
    : out_(out), format_(format), start_(start) {}

void Transcript::Flag(double t, int rank, const std::vector<std::string>& found) {
  for (const std::string& text : found) {
    mismatches_.push_back(text);
    if (format_ == Format::kJson) {
      std::fprintf(out_, "%s\n",
                   nlohmann::json({{"t", t}, {"rank", rank}, {"mismatch", text}}).dump().c_str());
    } else {
      std::fprintf(out_, "%s\n", absl::StrFormat("+%.6f rank %d !! %s", t, rank, text).c_str());
    }
  }
  std::fflush(out_);
}

void Transcript::Record(absl::Time when, int rank, Direction direction,
                        const wire::Message& message, absl::string_view raw) {
  std::lock_guard<std::mutex> lock(mu_);
  const double t = absl::ToDoubleSeconds(when - start_);
  const bool c2s = direction == Direction::kClientToServer;
  if (format_ == Format::kJson) {
    nlohmann::json fields = nlohmann::json::array();
    for (const auto& [k, v] : message.fields) fields.push_back({k, v});
    std::fprintf(out_, "%s\n",
                 nlohmann::json({{"t", t},
                                 {"rank", rank},
                                 {"dir", c2s ? "c2s" : "s2c"},
                                 {"cmd", message.command},
                                 {"fields", fields},
                                 {"raw", std::string(raw)}})
                     .dump(-1, ' ', false, nlohmann::json::error_handler_t::replace)
                     .c_str());
  } else {
    std::fprintf(out_, "%s\n",
                 absl::StrFormat("+%.6f rank %d %s %s", t, rank, c2s ? "C->S" : "S->C",
                                 message.DebugString())
                     .c_str());
  }
  Flag(t, rank, checker_.Check(rank, direction, message, raw));
}

void Transcript::RecordClose(absl::Time when, int rank, Direction closer) {
  std::lock_guard<std::mutex> lock(mu_);
  const double t = absl::ToDoubleSeconds(when - start_);
  const bool server = closer == Direction::kServerToClient;
  if (format_ == Format::kJson) {
    std::fprintf(out_, "%s\n",
                 nlohmann::json({{"t", t}, {"rank", rank}, {"close", server ? "server" : "client"}})
                     .dump()
                     .c_str());
  } else {
    std::fprintf(out_, "%s\n",
                 absl::StrFormat("+%.6f rank %d %s closed the connection", t, rank,
                                 server ? "server" : "client")
                     .c_str());
  }
  Flag(t, rank, checker_.CheckClose(rank, closer));
}

void Transcript::Note(absl::Time when, int rank, absl::string_view text) {
  std::lock_guard<std::mutex> lock(mu_);
  const double t = absl::ToDoubleSeconds(when - start_);
  if (format_ == Format::kJson) {
    std::fprintf(
        out_, "%s\n",
        nlohmann::json({{"t", t}, {"rank", rank}, {"note", std::string(text)}}).dump().c_str());
  } else {
    std::fprintf(out_, "%s\n", absl::StrFormat("+%.6f rank %d -- %s", t, rank, text).c_str());
  }
  std::fflush(out_);
}

std::vector<std::string> Transcript::mismatches() const {
  std::lock_guard<std::mutex> lock(mu_);
  return mismatches_;
}

}  // namespace pmi_shim::diagnose
