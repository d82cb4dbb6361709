#include "shim-client/family_probe.h"

#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cerrno>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/net/connector.h"
#include "image/image_scan.h"
#include "shim-client/pmi_handshake.h"

namespace pmi_shim::shim_client {

// What the program the application runs as links, read from this
// container's files (nothing is run).
image::ClientEvidence ProgramEvidence(const std::string& command, const Environ& environment) {
  const std::string path_variable = LookupEnv(environment, "PATH").value_or("/usr/bin:/bin");
  std::string program = command;
  if (command.find('/') == std::string::npos) {
    program.clear();
    for (absl::string_view dir : absl::StrSplit(path_variable, ':', absl::SkipEmpty())) {
      const std::string candidate = absl::StrCat(dir, "/", command);
      if (::access(candidate.c_str(), X_OK) == 0) {
        program = candidate;
        break;
      }
    }
    if (program.empty()) return {std::nullopt, absl::StrCat(command, " is not on PATH")};
  }
  image::ClientEvidence evidence = image::DetectClientFamilyDeep(
      program,
      image::LibrarySearchDirs(program, LookupEnv(environment, "LD_LIBRARY_PATH").value_or("")),
      path_variable);
  evidence.why = absl::StrCat(program, " ", evidence.why);
  return evidence;
}

// What the image's MPI speaks (bridge/diagnose/image_scan.h on "/").
image::ClientEvidence ImageEvidence() {
  absl::StatusOr<image::ImageReport> image = image::ScanImage("/");
  if (!image.ok() || image->default_protocol.empty()) return {};
  // An image with MPICH and Open MPI both (a build image, a whole host)
  // says nothing about the program that will run.
  bool pmi_mpi = false;
  bool pmix_mpi = false;
  for (const image::LibraryInfo& library : image->libraries) {
    if (library.family == image::kFamilyOpenMpi) pmix_mpi = true;
    if (library.family == image::kFamilyMpich || library.family == image::kFamilyIntelMpi ||
        library.family == image::kFamilyMvapich) {
      pmi_mpi = true;
    }
  }
  if (pmi_mpi && pmix_mpi) return {};
  const bool pmix = image->default_protocol == image::kProtoPmix;
  return {pmix ? ClientFamily::kPmix : ClientFamily::kPmi,
          absl::StrCat(image->mpi_family.empty() ? "its PMI library" : image->mpi_family, " ",
                       image->mpi_version, " speaks ", image->default_protocol)};
}

// One request on the rank directory's request.sock (common/rendezvous.h).
absl::StatusOr<rendezvous::EnvEntries> AskBridge(const std::string& dir, const char* what) {
  const std::string path = absl::StrCat(dir, "/", rendezvous::kRequestSocketName);
  absl::StatusOr<UniqueFd> socket = net::ConnectUnix(path);
  if (!socket.ok()) return socket.status();
  // Joining the job or starting a PMIx server takes the bridge a moment.
  const timeval limit{30, 0};
  ::setsockopt(socket->get(), SOL_SOCKET, SO_RCVTIMEO, &limit, sizeof(limit));
  const std::string request = absl::StrCat(what, "\n");
  if (::write(socket->get(), request.data(), request.size()) !=
      static_cast<ssize_t>(request.size())) {
    return absl::ErrnoToStatus(errno, absl::StrCat("writing to ", path));
  }
  std::string reply;
  char buffer[4096];
  while (reply.size() < (1 << 20)) {
    const ssize_t n = ::read(socket->get(), buffer, sizeof(buffer));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return absl::ErrnoToStatus(errno, absl::StrCat("reading from ", path));
    if (n == 0) break;
    reply.append(buffer, static_cast<size_t>(n));
  }
  return rendezvous::ParseRequestReply(reply);
}

}  // namespace pmi_shim::shim_client
