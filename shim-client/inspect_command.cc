// `pmi-shim-client inspect`: the image scanner of pmi-bridge diagnose
// (image/image_scan.h), run from inside the image itself.
#include <iostream>

#include "absl/strings/str_cat.h"
#include "common/log.h"
#include "image/image_scan.h"
#include "shim-client/verbs.h"

namespace pmi_shim::shim_client {

int RunInspect(const CommandLine& line) {
  absl::StatusOr<image::ImageReport> report = image::ScanImage(line.root);
  if (!report.ok()) {
    // The scanner's message already names the path and what to give instead.
    log::Error(absl::StrCat("inspect: ", report.status().message()));
    return 1;
  }
  if (line.json) {
    std::cout << image::ImageReportToJson(*report).dump() << std::endl;
  } else {
    std::cout << image::FormatImageReport(*report);
  }
  return 0;
}

}  // namespace pmi_shim::shim_client
