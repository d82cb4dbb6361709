#include "shim-client/check_report.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace pmi_shim::shim_client {

bool CheckReport::Ok(bool strict) const {
  if (!error.empty() || HasFatal(findings)) return false;
  return !strict || findings.empty();
}

std::string FormatSummary(const CheckReport& report) {
  std::string rank = "rank ?";
  if (report.rank.has_value()) rank = absl::StrCat("rank ", *report.rank);
  if (report.size.has_value()) absl::StrAppend(&rank, " of ", *report.size);
  if (report.mode == "none") {
    return "no PMI rendezvous: this process would start as rank 0 of 1";
  }
  if (report.mode == "direct") {
    return absl::StrCat("direct mode (no rendezvous directory): ", report.via,
                        report.notes.empty() ? "" : "; ", absl::StrJoin(report.notes, "; "),
                        report.error.empty() ? "" : absl::StrCat("; FAILED: ", report.error));
  }
  std::string line;
  if (report.mode == "pmix") {
    line = absl::StrCat(rank, ", PMIx namespace ", report.kvsname, " through ", report.via);
  } else {
    line = absl::StrCat(rank, ", ", report.wire.empty() ? report.protocol : report.wire,
                        " through ", report.via);
    if (!report.kvsname.empty()) absl::StrAppend(&line, ", kvsname ", report.kvsname);
  }
  for (const std::string& note : report.notes) absl::StrAppend(&line, ", ", note);
  absl::StrAppend(&line,
                  report.error.empty() ? ", job ready" : absl::StrCat(", FAILED: ", report.error));
  return line;
}

nlohmann::json CheckReportToJson(const CheckReport& report, bool strict) {
  nlohmann::json json = {
      {"ok", report.Ok(strict)},
      {"mode", report.mode},
      {"summary", FormatSummary(report)},
      {"notes", report.notes},
  };
  if (!report.dir.empty()) json["dir"] = report.dir;
  if (!report.protocol.empty()) json["protocol"] = report.protocol;
  if (!report.via.empty()) json["via"] = report.via;
  if (report.rank.has_value()) json["rank"] = *report.rank;
  if (report.size.has_value()) json["size"] = *report.size;
  if (!report.wire.empty()) json["wire"] = report.wire;
  if (!report.kvsname.empty()) json["kvsname"] = report.kvsname;
  if (!report.error.empty()) json["error"] = report.error;
  nlohmann::json findings = nlohmann::json::array();
  for (const Finding& finding : report.findings) {
    findings.push_back(
        {{"code", finding.code},
         {"severity", finding.severity == Finding::Severity::kFatal ? "fatal" : "warning"},
         {"message", finding.message}});
  }
  json["findings"] = std::move(findings);
  return json;
}

}  // namespace pmi_shim::shim_client
