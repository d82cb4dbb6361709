// `pmi-shim-client check`: handshake through the rendezvous, run the
// environment detectors, print the verdict.
#include <unistd.h>

#include <algorithm>
#include <iostream>
#include <string>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/log.h"
#include "common/net/connector.h"
#include "image/image_scan.h"
#include "protocol/pmix/pmix_uri.h"
#include "shim-client/check_report.h"
#include "shim-client/environment_checks.h"
#include "shim-client/environment_probe.h"
#include "shim-client/exec_plan.h"
#include "shim-client/family_probe.h"
#include "shim-client/inherited_fd.h"
#include "shim-client/pmi_handshake.h"
#include "shim-client/pmix_local_relay.h"
#include "shim-client/rendezvous_locator.h"
#include "shim-client/verbs.h"

namespace pmi_shim::shim_client {
namespace {

std::optional<int> ToInt(const std::string& text) {
  int value = 0;
  if (!absl::SimpleAtoi(text, &value)) return std::nullopt;
  return value;
}

void CheckPmiSocket(const CommandLine& line, const Rendezvous& found, CheckReport& report) {
  report.mode = "pmi-socket";
  report.via = found.SocketPath();
  report.rank = ToInt(found.Get(rendezvous::kRankKey));
  report.size = ToInt(found.Get(rendezvous::kSizeKey));
  absl::StatusOr<UniqueFd> socket = net::ConnectUnix(report.via);
  if (!socket.ok()) {
    report.error = absl::StrCat(socket.status().message(),
                                " (is `pmi-bridge exec` still running for this rank?)");
    return;
  }
  absl::StatusOr<HandshakeReport> handshake =
      found.protocol == Protocol::kPmi2 ? HandshakePmi2(socket->get(), report.rank.value_or(-1),
                                                        found.Get("PMI_JOBID"), line.timeout)
                                        : HandshakePmi1(socket->get(), line.timeout);
  if (!handshake.ok()) {
    report.error = std::string(handshake.status().message());
    return;
  }
  report.wire = handshake->WireName();
  report.kvsname = handshake->kvsname;
  if (handshake->rank.has_value() && report.rank.has_value() && *handshake->rank != *report.rank) {
    report.error = absl::StrCat("the server says rank ", *handshake->rank,
                                " but the env file says ", *report.rank);
  }
  // Hydra answers -1 when no universe size was given: nothing to compare.
  if (handshake->size.has_value() && *handshake->size > 0) {
    if (report.size.has_value() && *handshake->size != *report.size) {
      report.notes.push_back(absl::StrCat("universe size ", *handshake->size));
    } else {
      report.size = handshake->size;
    }
  }
}

void CheckPmix(const Rendezvous& found, CheckReport& report) {
  report.mode = "pmix";
  report.wire = "PMIx";
  report.kvsname = found.Get("PMIX_NAMESPACE");
  report.rank = ToInt(found.Get("PMIX_RANK"));
  std::string uri_text;
  for (const auto& [key, value] : found.entries) {
    if (pmix::IsPmixServerUriVariable(key)) {
      uri_text = value;
      break;
    }
  }
  absl::StatusOr<pmix::PmixUri> uri = pmix::ParsePmixUri(uri_text);
  if (!uri.ok()) {
    report.error = absl::StrCat("env file: ", uri.status().message());
    return;
  }
  const std::string address = absl::StrCat(uri->host, ":", uri->port);
  const bool tcp = uri->scheme == "tcp4" && ProbeTcp4(uri->host, uri->port, absl::Seconds(2)).ok();
  bool relay = false;
  if (::access(found.PmixSocketPath().c_str(), F_OK) == 0) {
    relay = net::ConnectUnix(found.PmixSocketPath()).ok();
  }
  if (tcp) {
    report.via = address;
  } else if (relay) {
    report.via = found.PmixSocketPath();
    report.notes.push_back(absl::StrCat(address, " unreachable here; exec relays a local port"));
  } else {
    report.via = address;
    report.error = absl::StrCat("neither the PMIx server at ", address, " nor ",
                                found.PmixSocketPath(), " can be reached from this container");
  }
}

// A launcher's rendezvous handed straight to an image whose MPI cannot
// speak it: every rank then starts alone (MPICH under mpirun, Open MPI
// under hydra). The image is this container's root; nothing is run.
void CheckImageSpeaks(const std::string& host_protocol, const std::string& fix,
                      CheckReport& report) {
  absl::StatusOr<image::ImageReport> image = image::ScanImage("/");
  if (!image.ok() || image->mpi_family.empty() || image->Speaks(host_protocol)) return;
  report.error =
      absl::StrCat("this image's MPI (", image->mpi_family, " ", image->mpi_version, ") has no ",
                   host_protocol, " client, and the launcher speaks only ", host_protocol,
                   ": each rank would start as rank 0 of 1 (the "
                   "N-singletons symptom); ",
                   fix);
}

void CheckDirect(const Environ& current, CheckReport& report) {
  report.mode = "direct";
  for (const char* key : {"PMI_FD", "PMI_PORT"}) {
    if (auto value = LookupEnv(current, key)) {
      if (std::string(key) == "PMI_FD") {
        const FdJudgement judged = JudgeInheritedFd(ProbeInheritedFd(*value), std::nullopt);
        if (!judged.usable) {
          // A number copied in by a wrapper; the findings say what to do.
          report.mode = "none";
          return;
        }
      }
      report.via = absl::StrCat(key, "=", *value);
      report.notes.push_back("not probed: a handshake would use up the launcher's connection");
      report.rank =
          ToInt(LookupEnv(current, "PMI_RANK").value_or(LookupEnv(current, "PMI_ID").value_or("")));
      report.size = ToInt(LookupEnv(current, "PMI_SIZE").value_or(""));
      CheckImageSpeaks(image::kProtoPmi1,
                       "run each rank as `pmi-bridge exec -- ...`, which serves this image's "
                       "PMIx client (no flag needed)",
                       report);
      return;
    }
  }
  for (const std::string& entry : current) {
    const size_t equals = entry.find('=');
    if (!pmix::IsPmixServerUriVariable(entry.substr(0, equals))) continue;
    report.via = entry;
    report.kvsname = LookupEnv(current, "PMIX_NAMESPACE").value_or("");
    absl::StatusOr<pmix::PmixUri> uri = pmix::ParsePmixUri(entry.substr(equals + 1));
    if (!uri.ok()) {
      report.error = std::string(uri.status().message());
    } else if (uri->scheme == "tcp4" && !ProbeTcp4(uri->host, uri->port, absl::Seconds(2)).ok()) {
      report.error = absl::StrCat("the PMIx server at ", uri->host, ":", uri->port,
                                  " is not reachable from here (a private network namespace?); "
                                  "use pmi-bridge exec with pmi-shim-client exec, or the host "
                                  "network");
    } else {
      report.notes.push_back("PMIx server reachable");
      CheckImageSpeaks(image::kProtoPmix,
                       "run each rank as `pmi-bridge exec -- ...`, which serves this image's "
                       "PMI client (no flag needed)",
                       report);
    }
    return;
  }
}

// The v1.2 endpoint: the socket named by PMIX_SERVER_URI (nspace:rank:path).
void CheckPmixV1(const Rendezvous& found, CheckReport& report) {
  report.mode = "pmix";
  report.wire = "PMIx v1.2 (usock)";
  report.kvsname = found.Get("PMIX_NAMESPACE");
  report.rank = ToInt(found.Get("PMIX_RANK"));
  std::string path = found.Get("PMIX_SERVER_URI");
  path = path.substr(std::min(path.size(), path.find(':', path.find(':') + 1) + 1));
  report.via = path;
  if (::access(path.c_str(), F_OK) != 0) {
    report.error = absl::StrCat("the PMIx v1.2 socket ", path,
                                " is not in this container (PMIX_SERVER_TMPDIR not mounted?)");
  }
}

// A directory that offers both sides is checked on the side this image's
// MPI would take (what `exec` does for a program that does not tell by
// itself).
ClientFamily FamilyToCheck(const Rendezvous& found) {
  if (Offers(found, ClientFamily::kPmi) && Offers(found, ClientFamily::kPmix)) {
    return ChooseFamily(found, image::ClientEvidence{}, ImageEvidence()).family;
  }
  return PreferredFamily(found);
}

std::string ReportedProtocol(const Rendezvous& found, ClientFamily family) {
  return found.protocol == Protocol::kPmixV1 ? std::string(ProtocolName(found.protocol))
         : family == ClientFamily::kPmix     ? "pmix"
         : found.protocol == Protocol::kPmix ? "pmi"
                                             : std::string(ProtocolName(found.protocol));
}

// Asks the bridge for what the env file leaves out, when the side checked
// needs it.
absl::Status CompleteFromBridge(Rendezvous& found, ClientFamily family) {
  if (!NeedsRequest(found, family)) return absl::OkStatus();
  absl::StatusOr<rendezvous::EnvEntries> added =
      AskBridge(found.dir, family == ClientFamily::kPmix ? "pmix" : "pmi");
  if (!added.ok()) return added.status();
  MergeEntries(found, *added);
  return absl::OkStatus();
}

void CheckRendezvous(const CommandLine& line, Rendezvous& found, CheckReport& report) {
  report.dir = found.dir;
  const ClientFamily family = FamilyToCheck(found);
  report.protocol = ReportedProtocol(found, family);
  const absl::Status ready = CompleteFromBridge(found, family);
  if (!ready.ok()) {
    report.mode = family == ClientFamily::kPmix ? "pmix" : "pmi-socket";
    report.error = absl::StrCat("the bridge could not serve this rank: ", ready.message());
  } else if (found.protocol == Protocol::kPmixV1) {
    CheckPmixV1(found, report);
  } else if (family == ClientFamily::kPmix) {
    CheckPmix(found, report);
  } else {
    CheckPmiSocket(line, found, report);
  }
}

void PrintReport(const CheckReport& report) {
  if (report.mode != "none") {
    std::cout << FormatSummary(report) << std::endl;
  } else if (!report.error.empty()) {
    log::Error(absl::StrCat("broken rendezvous: ", report.error,
                            "; the bridge writes this file, so rerun the job"));
  }
  for (const Finding& finding : report.findings) {
    if (finding.severity == Finding::Severity::kFatal) {
      log::Error(finding.message);
    } else {
      log::Warning(finding.message);
    }
  }
}

}  // namespace

int RunCheck(const CommandLine& line) {
  const Environ current = CurrentEnviron();
  const std::string env_dir = LookupEnv(current, rendezvous::kDirVariable).value_or("");
  absl::StatusOr<LocateResult> located = Locate(CandidateDirs(line.dir, env_dir));
  CheckReport report;
  if (!located.ok()) {
    report.error = std::string(located.status().message());
    located = LocateResult{};
  }
  if (located->rendezvous.has_value()) {
    CheckRendezvous(line, *located->rendezvous, report);
  } else if (report.error.empty() && HasDirectRendezvous(current)) {
    CheckDirect(current, report);
  }
  report.findings = CheckEnvironment(GatherFacts(current, *located));
  const bool ok = report.Ok(line.strict);
  if (line.json) {
    std::cout << CheckReportToJson(report, line.strict).dump() << std::endl;
  } else {
    PrintReport(report);
  }
  return ok ? 0 : 1;
}

}  // namespace pmi_shim::shim_client
