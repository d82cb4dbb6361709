#include "bridge/exec/engine_image.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "common/unique_fd.h"
#include "image/image_scan.h"

namespace pmi_shim::exec {
namespace {

bool IsDirectory(const std::string& path) {
  struct stat info;
  return ::stat(path.c_str(), &info) == 0 && S_ISDIR(info.st_mode);
}

}  // namespace

std::optional<std::string> ChImageDirectory(const std::string& image) {
  if (IsDirectory(image)) return image;
  if (image.empty() || image.front() == '/' || image.front() == '.') return std::nullopt;
  // A name: ch-image keeps "a/b:tag" as img/a%b+tag.
  const std::string stored = absl::StrReplaceAll(image, {{"/", "%"}, {":", "+"}});
  std::vector<std::string> storages;
  if (const char* storage = std::getenv("CH_IMAGE_STORAGE"); storage != nullptr && *storage) {
    storages.push_back(storage);
  }
  if (const char* user = std::getenv("USER"); user != nullptr && *user) {
    storages.push_back(absl::StrCat("/var/tmp/", user, ".ch"));
  }
  for (const std::string& storage : storages) {
    const std::string candidate = absl::StrCat(storage, "/img/", stored);
    if (IsDirectory(candidate)) return candidate;
  }
  return std::nullopt;
}

std::optional<engines::ImageFacts> LookIntoImage(const std::vector<std::string>& argv,
                                                 const engines::EngineContext& context) {
  std::optional<std::string> image = engines::ImageToInspect(argv);
  if (!image.has_value()) return std::nullopt;
  // ch-run: a directory or a name in its storage; Apptainer: a sandbox
  // directory (a SIF file is not opened).
  std::optional<std::string> root =
      engines::EngineOfProgram(argv.front()) == engines::Engine::kCharliecloud
          ? ChImageDirectory(*image)
          : (IsDirectory(*image) ? std::optional<std::string>(*image) : std::nullopt);
  if (!root.has_value()) return std::nullopt;
  engines::ImageFacts facts;
  facts.image = *image;
  for (const std::string& path : engines::ImagePathsToCheck(argv, context)) {
    absl::StatusOr<std::string> inside = image::ResolveInRoot(*root, path);
    if (inside.ok() && IsDirectory(*inside)) facts.directories.push_back(path);
  }
  return facts;
}

absl::Status CarryClient(const std::string& tools_dir, const std::string& to) {
  const std::string from = absl::StrCat(tools_dir, "/bin/pmi-shim-client");
  UniqueFd in(::open(from.c_str(), O_RDONLY | O_CLOEXEC));
  if (!in.valid()) return absl::ErrnoToStatus(errno, absl::StrCat("cannot read ", from));
  UniqueFd out(::open(to.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0755));
  if (!out.valid()) return absl::ErrnoToStatus(errno, absl::StrCat("cannot create ", to));
  char buffer[1 << 16];
  while (true) {
    const ssize_t n = ::read(in.get(), buffer, sizeof(buffer));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return absl::ErrnoToStatus(errno, absl::StrCat("reading ", from));
    if (n == 0) break;
    for (ssize_t done = 0; done < n;) {
      const ssize_t written = ::write(out.get(), buffer + done, static_cast<size_t>(n - done));
      if (written < 0 && errno == EINTR) continue;
      if (written <= 0) return absl::ErrnoToStatus(errno, absl::StrCat("writing ", to));
      done += written;
    }
  }
  ::fchmod(out.get(), 0755);
  return absl::OkStatus();
}

}  // namespace pmi_shim::exec
