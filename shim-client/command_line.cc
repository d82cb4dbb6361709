#include "shim-client/command_line.h"

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/status_macros.h"

namespace pmi_shim::shim_client {
namespace {

absl::Status Bad(const std::string& verb, absl::string_view what) {
  return absl::InvalidArgumentError(
      absl::StrCat(what, "; see 'pmi-shim-client ", verb, verb.empty() ? "" : " ", "--help'"));
}

constexpr struct {
  const char* name;
  Verb verb;
} kVerbs[] = {{"exec", Verb::kExec}, {"check", Verb::kCheck}, {"inspect", Verb::kInspect}};

// The words after the verb, one at a time; `--opt=value` and `--opt value`
// both give a value.
class Words {
 public:
  Words(const std::vector<std::string>& args, const std::string& verb) : args_(args), verb_(verb) {}

  bool Done() const { return i_ >= args_.size(); }
  const std::string& Current() const { return args_[i_]; }
  void Next() { ++i_; }
  // This word and every one after it.
  std::vector<std::string> Rest() const {
    return std::vector<std::string>(args_.begin() + static_cast<long>(i_), args_.end());
  }

  bool Is(absl::string_view option) const {
    return Current() == option || absl::StartsWith(Current(), absl::StrCat(option, "="));
  }
  absl::StatusOr<std::string> Value(absl::string_view option) {
    const std::string prefix = absl::StrCat(option, "=");
    if (absl::StartsWith(Current(), prefix)) return Current().substr(prefix.size());
    if (i_ + 1 >= args_.size()) return Bad(verb_, absl::StrCat(option, " needs a value"));
    return args_[++i_];
  }

 private:
  const std::vector<std::string>& args_;
  const std::string& verb_;
  size_t i_ = 1;
};

absl::Status ParseDir(Words& words, const std::string& verb, CommandLine& line) {
  absl::StatusOr<std::string> dir = words.Value("--dir");
  if (!dir.ok()) return dir.status();
  if (dir->empty() || (*dir)[0] != '/') {
    return Bad(verb, absl::StrCat("--dir needs an absolute path, not '", *dir, "'"));
  }
  line.dir = *dir;
  return absl::OkStatus();
}

absl::Status ParseTimeout(Words& words, const std::string& verb, CommandLine& line) {
  absl::StatusOr<std::string> text = words.Value("--timeout");
  if (!text.ok()) return text.status();
  double seconds = 0;
  if (!absl::SimpleAtod(*text, &seconds) || seconds <= 0 || seconds > 3600) {
    return Bad(verb, absl::StrCat("--timeout takes seconds (0 < S <= 3600), not '", *text, "'"));
  }
  line.timeout = absl::Seconds(seconds);
  return absl::OkStatus();
}

// An option of `line.verb`; false when the word is not one.
absl::StatusOr<bool> ParseOption(Words& words, const std::string& verb, CommandLine& line) {
  const std::string& arg = words.Current();
  if (arg == "--help" || arg == "-h") {
    line.help = true;
  } else if (arg == "-v" || arg == "--verbose") {
    ++line.verbosity;
  } else if (line.verb != Verb::kInspect && words.Is("--dir")) {
    RETURN_IF_ERROR(ParseDir(words, verb, line));
  } else if (line.verb != Verb::kExec && arg == "--json") {
    line.json = true;
  } else if (line.verb != Verb::kInspect && arg == "--strict") {
    line.strict = true;
  } else if (line.verb == Verb::kCheck && words.Is("--timeout")) {
    RETURN_IF_ERROR(ParseTimeout(words, verb, line));
  } else {
    return false;
  }
  return true;
}

// The words after the verb's options: exec's command (after "--" or at the
// first word that is not an option), inspect's ROOT.
absl::Status ParseArguments(Words& words, const std::string& verb, CommandLine& line) {
  bool have_root = false;
  for (; !words.Done(); words.Next()) {
    ASSIGN_OR_RETURN(bool option, ParseOption(words, verb, line));
    if (option) continue;
    const std::string& arg = words.Current();
    if (line.verb == Verb::kExec && arg == "--") {
      words.Next();
      line.command = words.Rest();
      return absl::OkStatus();
    }
    if (!arg.empty() && arg[0] == '-') {
      return Bad(verb, absl::StrCat("unknown option '", arg, "'"));
    }
    if (line.verb == Verb::kExec) {
      line.command = words.Rest();
      return absl::OkStatus();
    }
    if (line.verb != Verb::kInspect || have_root) {
      return Bad(verb, absl::StrCat("unexpected argument '", arg, "'"));
    }
    line.root = arg;
    have_root = true;
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<CommandLine> ParseCommandLine(const std::vector<std::string>& args) {
  CommandLine line;
  if (args.empty()) return Bad("", "no verb given (exec, check or inspect)");
  const std::string verb = args[0];
  if (verb == "--help" || verb == "-h" || verb == "help") {
    line.help = true;
    return line;
  }
  bool known = false;
  for (const auto& entry : kVerbs) {
    if (verb == entry.name) {
      line.verb = entry.verb;
      known = true;
    }
  }
  if (!known) {
    return Bad("", absl::StrCat("unknown verb '", verb, "' (expected exec, check or inspect)"));
  }
  Words words(args, verb);
  RETURN_IF_ERROR(ParseArguments(words, verb, line));
  if (line.verb == Verb::kExec && line.command.empty() && !line.help) {
    return Bad(verb, "no command given: pmi-shim-client exec [--dir D] -- CMD ARGS...");
  }
  return line;
}

std::string Usage(Verb verb) {
  switch (verb) {
    case Verb::kExec:
      return R"(usage: pmi-shim-client exec [--dir DIR] [--strict] [-v] -- CMD ARGS...

Runs inside a container as the rank's entry point. Finds the rank's
rendezvous directory (--dir, else /run/pmi-shim, else $PMI_SHIM_DIR), then
  pmi1/pmi2/pmi: connects DIR/pmi.sock and execs CMD with PMI_FD, PMI_RANK
                 and PMI_SIZE set (stray PMI_PORT, PMI_ID and PMIX_* removed);
  pmix:          exports the PMIX_* variables; when the server's loopback
                 port is unreachable from here, relays a local port to
                 DIR/pmix.sock and points PMIX_SERVER_URI* at it.
Without a directory CMD runs unchanged: with the environment's own PMI
variables if any, else as a singleton (a warning; an error with --strict).

  --dir DIR   the rendezvous directory (absolute path), no search
  --strict    refuse to start CMD as a singleton
  -v          more log lines on stderr (repeat for debug)
Exit status: CMD's; 125 when pmi-shim-client itself fails, 126/127 when CMD
cannot be run or is not found.
)";
    case Verb::kCheck:
      return R"(usage: pmi-shim-client check [--dir DIR] [--json] [--strict] [--timeout S] [-v]

Checks from inside the container that this rank will find its PMI server:
handshakes with DIR/pmi.sock (PMI-1 or PMI-2; no put, barrier or finalize,
so the application can connect afterwards), or for PMIx connects to the
server URI and to DIR/pmix.sock, and prints one line such as
  rank 2 of 4, PMI-1 (wire 1.1) through /run/pmi-shim/pmi.sock, kvsname kvs_1, job ready
Then reports, one line each, set-ups that break MPI: no rendezvous at all
(the N-singletons symptom: exit 1), Apptainer/Singularity --cleanenv,
--containall and --oci modes, a private /tmp, IPC namespace or /dev/shm.

  --dir DIR    the rendezvous directory (absolute path), no search
  --json       one JSON object on stdout instead of text
  --strict     warnings fail too (exit 1)
  --timeout S  seconds to wait for each reply (default 10)
)";
    case Verb::kInspect:
      return R"(usage: pmi-shim-client inspect [ROOT] [--json]

Lists the PMI and MPI libraries found under ROOT (default /: the image this
runs in), with their versions and the protocols they speak.

  --json   one JSON object on stdout instead of a table
)";
    case Verb::kHelp:
      break;
  }
  return R"(usage: pmi-shim-client VERB [OPTIONS]

The in-container helper of pmi-shim: it turns the rendezvous that
`pmi-bridge exec` publishes for a rank into what the application's PMI
library expects.

  exec [--dir D] -- CMD...   connect, set the PMI environment, exec CMD
  check [--dir D] [--json]   handshake and print rank/size/protocol; fail
                             loudly when each rank would be a singleton
  inspect [ROOT] [--json]    list the PMI/MPI libraries of an image

'pmi-shim-client VERB --help' describes each verb.
)";
}

}  // namespace pmi_shim::shim_client
