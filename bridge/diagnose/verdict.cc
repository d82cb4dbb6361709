#include "bridge/diagnose/verdict.h"

#include <algorithm>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "image/version_number.h"

namespace pmi_shim::diagnose {

using image::ImageReport;
using image::kFamilyIntelMpi;
using image::kFamilyMpich;
using image::kFamilySlurmPmi2;
using image::kProtoPmi1;
using image::kProtoPmi2;
using image::kProtoPmix;
using image::LibraryInfo;
using image::ParseVersion;
using image::VersionNumber;
namespace {

std::string DownstreamName(const std::string& protocol) {
  if (protocol == kProtoPmi1) return "pmi1";
  if (protocol == kProtoPmi2) return "pmi2";
  return "pmix";
}

std::string BridgeRun(const std::string& protocol) {
  return absl::StrCat("pmi-bridge exec --downstream ", DownstreamName(protocol),
                      " -- ENGINE run ... IMAGE pmi-shim-client exec -- APP");
}

// PMIx v1.x clients (usock only) get the bridge's native v1.2 endpoint.
std::string BridgeRunPmixV1() {
  return "pmi-bridge exec --downstream pmix1 -- ENGINE run ... IMAGE pmi-shim-client exec -- APP";
}
constexpr char kWhyPmixV1[] =
    "the bridge serves PMIx v1.2 clients natively over usock, whatever the host speaks "
    "(bridge/downstream/pmix_v1_server.h)";

// The PMIx server's series, from PMIX_VERSION or the URI names. Inferred
// ranges ("4.1-5.x", "6.1+") compare by their lower end.
std::optional<VersionNumber> ServerVersion(const HostReport& host) {
  return ParseVersion(host.pmix_version);
}

bool HasUri(const HostReport& host, const char* name) {
  return std::find(host.pmix_uri_names.begin(), host.pmix_uri_names.end(), name) !=
         host.pmix_uri_names.end();
}

class Builder {
 public:
  Builder(const HostReport& host, const ImageReport& image, const ContainerFacts& container)
      : host_(host), image_(image), container_(container) {}

  Verdict Build() {
    if (image_.client_protocols.empty()) {
      v_.outcome = kOutcomeNoClient;
      v_.summary =
          "the image has no PMI/PMIx client library: nothing to wire up (a static MPI or no MPI)";
      return v_;
    }
    if (host_.rendezvous.empty()) {
      v_.client_protocol = image_.default_protocol;
      v_.outcome = kOutcomeNoHost;
      v_.summary = "no PMI server in this environment: every rank would start as a singleton";
      // design.md §3: the embedded row serves any client on one machine.
      Add("run",
          absl::StrCat("pmi-bridge launch -n N --protocol ",
                       DownstreamName(image_.default_protocol),
                       " -- ENGINE run ... IMAGE pmi-shim-client exec -- APP"),
          "design.md §3 embedded row: pmi-bridge launch is the PMI server on one machine");
      return v_;
    }
    if (host_.rendezvous == "PMIx") {
      DecidePmixHost();
    } else {
      DecidePmiWireHost();
    }
    return v_;
  }

 private:
  void Add(const std::string& kind, const std::string& text, const std::string& why) {
    Fix fix{kind, text, why};
    if (std::find(v_.fixes.begin(), v_.fixes.end(), fix) == v_.fixes.end()) v_.fixes.push_back(fix);
  }

  // The protocol the client will speak toward this host: its default when
  // the host serves it, else another it can be switched to.
  std::string ChooseClientProtocol() const {
    if (host_.Serves(image_.default_protocol)) return image_.default_protocol;
    for (const std::string& p : image_.client_protocols) {
      if (host_.Serves(p)) return p;
    }
    return image_.default_protocol;
  }

  void SwitchKnob(const std::string& protocol) {
    if (protocol == image_.default_protocol) return;
    if (image_.mpi_family == kFamilyMpich && protocol == kProtoPmi2) {
      Add("env", "MPIR_CVAR_PMI_VERSION=2",
          "protocols.md §1.1: MPICH picks its PMI by MPIR_CVAR_PMI_VERSION");
    } else if (image_.mpi_family == kFamilyIntelMpi && protocol == kProtoPmi2) {
      Add("env", "I_MPI_PMI=pmi2", "Intel MPI selects PMI-2 with I_MPI_PMI=pmi2");
    }
  }

  void DecidePmiWireHost() {
    const std::string proto = ChooseClientProtocol();
    v_.client_protocol = proto;
    if (!host_.Serves(proto)) {
      DecideUnservedProtocol(proto);
      return;
    }
    SwitchKnob(proto);
    if (NeedsSlurmPmi2DialectRepair(proto)) {
      DecideSlurmPmi2DialectRepair();
      return;
    }
    if (host_.launcher == kLauncherSlurmPmi2) {
      v_.problems.push_back(absl::StrCat(
          "Slurm fixes one PMI version per step from the first task's init; every rank must speak ",
          proto, " (protocols.md §6 pitfall 16)"));
    }
    if (host_.rendezvous == "PMI_FD") {
      DecideInheritedFd(proto);
      return;
    }
    DecidePmiPort(proto);
  }

  // design.md §3: PMI-1/PMI-2 server rows; translate or host a PMIx server.
  void DecideUnservedProtocol(const std::string& proto) {
    v_.outcome = kOutcomeBridge;
    const std::optional<VersionNumber> client = ParseVersion(image_.pmix_version);
    if (proto == kProtoPmix && client && client->major == 1) {
      v_.summary =
          absl::StrCat("the image speaks PMIx ", image_.pmix_version, " (usock only), the host (",
                       host_.launcher,
                       ") only the PMI wire: the bridge serves it its native PMIx v1.2 endpoint");
      Add("run", BridgeRunPmixV1(), kWhyPmixV1);
    } else if (proto == kProtoPmix) {
      v_.summary = absl::StrCat("the image speaks PMIx, the host (", host_.launcher,
                                ") only the PMI wire: the bridge hosts a PMIx server for it");
      Add("run", BridgeRun(kProtoPmix),
          "design.md §3: PMI server x PMIx client = bridge hosts a PMIx server");
    } else {
      v_.summary =
          absl::StrCat("the image speaks ", proto, ", ", host_.launcher, " serves ",
                       absl::StrJoin(host_.server_protocols, "/"), ": the bridge translates");
      v_.problems.push_back(absl::StrCat(host_.launcher, " has no ", proto,
                                         " wire server (protocols.md §1.9, §2.7)"));
      Add("run", BridgeRun(proto), "design.md §3: PMI-1 server x PMI-2 client = translate");
    }
  }

  // Slurm's libpmi2 in PMI_PORT mode sends fullinit;srcid= without
  // pmirank, which hydra rejects (real-peers.md; protocols.md §8 row 9).
  bool NeedsSlurmPmi2DialectRepair(const std::string& proto) const {
    const bool slurm_pmi2_lib =
        std::any_of(image_.libraries.begin(), image_.libraries.end(),
                    [](const LibraryInfo& l) { return l.family == kFamilySlurmPmi2; });
    return proto == kProtoPmi2 && slurm_pmi2_lib && host_.launcher == kLauncherHydra &&
           host_.rendezvous == "PMI_PORT";
  }

  void DecideSlurmPmi2DialectRepair() {
    v_.outcome = kOutcomeBridge;
    v_.summary =
        "Slurm's libpmi2 over PMI_PORT sends fullinit without pmirank; hydra rejects it: the "
        "bridge repairs the dialect";
    v_.problems.push_back(
        "libpmi2 PMI_PORT fullinit lacks pmirank; hydra: \"unable to find pmirank\" "
        "(protocols.md §2.2, §8 row 9)");
    Add("run", BridgeRun(kProtoPmi2),
        "design.md §3: PMI-2 server x PMI-2 client = relay + dialect repair");
  }

  // design.md §1/§5 flow 2: an inherited fd does not cross Docker/Podman;
  // the bridge turns it into a per-rank socket the hook carries in.
  void DecideInheritedFd(const std::string& proto) {
    v_.outcome = kOutcomeBridge;
    v_.summary = absl::StrCat("same protocol (", proto,
                              ") but the rendezvous is an inherited PMI_FD, which a container "
                              "engine does not pass: relay it");
    Add("run", BridgeRun(proto), "design.md §3: same protocol = relay (fd -> socket); §5 flow 2");
    v_.problems.push_back(
        "engines that keep fds (ch-run, runc/podman --preserve-fds) can pass PMI_FD directly "
        "with PMI_RANK/PMI_SIZE");
  }

  // PMI_PORT: TCP to the host's address.
  void DecidePmiPort(const std::string& proto) {
    if (container_.network == "host") {
      v_.outcome = kOutcomeDirect;
      v_.summary =
          absl::StrCat("same protocol (", proto,
                       ") over PMI_PORT and the container shares the host network: direct");
      Add("env", "PMI_PORT and PMI_ID passed into the container",
          "protocols.md §1.1: the client needs PMI_PORT and PMI_ID");
      return;
    }
    v_.outcome = kOutcomeBridge;
    v_.summary = absl::StrCat("same protocol (", proto,
                              ") but PMI_PORT is TCP on the host side, unreachable from a private "
                              "network namespace: relay it");
    Add("run", BridgeRun(proto),
        "protocols.md §1.1: PMI_PORT is host:port TCP only; design.md §3 relay");
    Add("flag", "or run the container with --network host (then direct)", "protocols.md §1.1");
  }

  void DecidePmixHost() {
    if (!image_.Speaks(kProtoPmix)) {
      DecidePmiClientUnderPmix();
      return;
    }
    v_.client_protocol = kProtoPmix;
    const std::optional<VersionNumber> client = ParseVersion(image_.pmix_version);
    const std::optional<VersionNumber> server = ServerVersion(host_);
    // v1.x clients: Unix socket only (protocols.md §4.3, §4.6, §8 rows 18-19).
    if (client && client->major == 1) {
      DecidePmixV1Client(server);
    } else if (server && server->major == 2 && server->minor == 0 && client &&
               (client->major > 2 || client->minor >= 1)) {
      // v2.0.3 servers serve only 2.0.x and 1.2.5 clients (protocols.md §4.6).
      DecideNewClientOfPmix20Server();
    } else {
      DecideCompatiblePmix(client);
    }
  }

  bool SpeaksPmiWireToo() const { return image_.Speaks(kProtoPmi1) || image_.Speaks(kProtoPmi2); }

  void DecidePmiClientUnderPmix() {
    const std::string proto = image_.default_protocol;
    v_.client_protocol = proto;
    v_.outcome = kOutcomeBridge;
    v_.summary =
        absl::StrCat("the image speaks ", proto,
                     ", the host only PMIx: the bridge is a PMIx client and serves ", proto);
    Add("run", BridgeRun(proto), "design.md §3 PMIx server row; §5 flow 3");
    v_.problems.push_back(
        "never give an MPICH rank both PMI_SIZE and PMIX_NAMESPACE; the bridge strips the host's "
        "PMIX_* (protocols.md §6 pitfall 12)");
  }

  void DecidePmixV1Client(const std::optional<VersionNumber>& server) {
    const bool pmi_fallback = SpeaksPmiWireToo();
    if (!server || server->major >= 4 || (server->major == 2 && server->minor == 0)) {
      v_.outcome = kOutcomeIncompatible;
      v_.summary = absl::StrCat("PMIx ", image_.pmix_version, " client needs a Unix socket; the ",
                                host_.pmix_version.empty() ? "host" : host_.pmix_version,
                                " server is TCP only");
      v_.problems.push_back(
          "v1.x clients connect only by usock; usock was removed in v4.0.0 (and in 2.0.3) "
          "(protocols.md §4.6, §8 rows 18-19)");
      v_.outcome = kOutcomeBridge;
      if (pmi_fallback) {
        const std::string proto = image_.Speaks(kProtoPmi1) ? kProtoPmi1 : kProtoPmi2;
        v_.client_protocol = proto;
        Add("run", BridgeRun(proto),
            "the image also speaks the PMI wire: the bridge serves it from PMIx (design.md §3)");
      } else {
        v_.summary += ": the bridge serves it its native PMIx v1.2 endpoint";
        Add("run", BridgeRunPmixV1(), kWhyPmixV1);
      }
      Add("rebuild",
          "use PMIx >= 2.1.1 in the image (any client talks to any server from 2.1.1 on)",
          "protocols.md §4.6");
      return;
    }
    // v2.1/v3 servers: only with their usock listener enabled.
    if (!host_.pmix_usock) {
      v_.outcome = kOutcomeBridge;
      v_.summary =
          "PMIx v1.x client: the v2.1/v3 server has no Unix socket listener; the bridge serves the "
          "client natively";
      v_.problems.push_back(
          "v2.1/v3 servers accept v1.x clients only with usock enabled (protocols.md §4.2, §8 row "
          "19)");
      Add("run", BridgeRunPmixV1(), kWhyPmixV1);
      Add("flag",
          "or start the server with PMIX_USOCK_DISABLE=false (the host exports PMIX_SERVER_URI)",
          "protocols.md §4.2");
      return;
    }
    v_.outcome = kOutcomeDirectWithHook;
    v_.summary = "PMIx v1.x client over the server's Unix socket: bind the socket in";
    Add("bind",
        host_.pmix_usock_path.empty() ? "the PMIX_SERVER_URI socket path" : host_.pmix_usock_path,
        "protocols.md §4.2: v1.x usock rendezvous is nspace:rank:path");
    AddCommonPmixFixes(/*tcp=*/false);
  }

  void DecideNewClientOfPmix20Server() {
    const bool pmi_fallback = SpeaksPmiWireToo();
    v_.outcome = kOutcomeIncompatible;
    v_.summary = absl::StrCat("a PMIx 2.0 server serves only 2.0.x/1.2.5 clients; the image has ",
                              image_.pmix_version);
    v_.problems.push_back(
        "v2.0.3 servers serve only v2.0.x and v1.2.5 clients (protocols.md §4.6)");
    if (pmi_fallback) {
      v_.outcome = kOutcomeBridge;
      v_.client_protocol = image_.Speaks(kProtoPmi1) ? kProtoPmi1 : kProtoPmi2;
      Add("run", BridgeRun(v_.client_protocol), "design.md §3 PMIx server row");
    }
    Add("rebuild", "use PMIx 2.0.x in the image, or a host PMIx >= 2.1.1", "protocols.md §4.6");
  }

  void DecideCompatiblePmix(const std::optional<VersionNumber>& client) {
    v_.outcome = DirectOutcome();
    v_.summary =
        absl::StrCat("PMIx client ", image_.pmix_version.empty() ? "?" : image_.pmix_version,
                     " and server ", host_.pmix_version.empty() ? "?" : host_.pmix_version,
                     " are compatible (any >= 2.1.1 pair, protocols.md §4.6)");
    // v2.0.x clients look only for PMIX_SERVER_URI2; v6.1+ exports URI20.
    if (client && client->major == 2 && client->minor == 0 && !HasUri(host_, "PMIX_SERVER_URI2")) {
      if (HasUri(host_, "PMIX_SERVER_URI20")) {
        Add("env", "PMIX_SERVER_URI2=<value of PMIX_SERVER_URI20>",
            "protocols.md §4.2, §8 row 19: v6.1+ exports URI20 instead of URI2; a v2.0 client "
            "reads only URI2");
        v_.problems.push_back(
            "the v2.0 client finds no PMIX_SERVER_URI2 (v6.1+ exports PMIX_SERVER_URI20)");
      } else {
        v_.problems.push_back(
            "the host exports no PMIX_SERVER_URI2, the only name a v2.0 client reads (protocols.md "
            "§4.2)");
      }
      if (v_.outcome == kOutcomeDirect) v_.outcome = kOutcomeDirectWithHook;
    }
    AddCommonPmixFixes(/*tcp=*/true);
  }

  std::string DirectOutcome() {
    if (container_.network == "host") return kOutcomeDirect;
    return kOutcomeDirectWithHook;
  }

  void AddCommonPmixFixes(bool tcp) {
    if (tcp && container_.network != "host") {
      Add("flag",
          "--annotation org.pmi-shim.enable=true (the hook relays 127.0.0.1:PORT inside the "
          "container's network namespace)",
          "protocols.md §4.3, §6 pitfall 18: the tcp listener is loopback-only; design.md §5 flow "
          "1");
      if (!container_.known) {
        v_.problems.push_back(
            "network mode unknown (no --bundle): assuming a private network namespace; with "
            "--network host this is direct");
      }
    }
    Add("env", "PMIX_* passed into the container (podman: --env 'PMIX_*')",
        "protocols.md §4.1: the client needs PMIX_NAMESPACE, PMIX_RANK, PMIX_SERVER_URI*");
    // gds: shared-memory stores need the server tmpdir and IPC (§6 pitfall 20;
    // 5.0.0 <-> 5.0.1 are incompatible with them, §4.6).
    const bool image_shm = std::any_of(
        image_.pmix_components.begin(), image_.pmix_components.end(), [](const std::string& c) {
          return c == "gds/ds12" || c == "gds/ds21" || absl::StartsWith(c, "gds/shmem");
        });
    if (host_.UsesSharedMemoryGds() && image_shm) {
      Add("env", "PMIX_MCA_gds=hash",
          "protocols.md §6 pitfall 20: shared-memory gds needs the server tmpdir and IPC shared; "
          "force hash across the boundary");
    }
    // psec: the client takes the first of the server's modes it has (§4.1, §4.5).
    std::vector<std::string> modes = host_.security_modes;
    if (modes.empty()) modes = {"native"};
    std::string chosen;
    for (const std::string& mode : modes) {
      if (ClientHasPsec(mode)) {
        chosen = mode;
        break;
      }
    }
    if (chosen.empty()) {
      v_.outcome = kOutcomeIncompatible;
      v_.problems.push_back(
          absl::StrCat("the server accepts psec ", absl::StrJoin(modes, ","),
                       " and the image's PMIx has none of them (protocols.md §4.5)"));
      Add("rebuild", absl::StrCat("build the image's PMIx with psec ", modes.front()),
          "protocols.md §4.5");
      return;
    }
    if (chosen == "munge") {
      Add("bind", "/run/munge", "protocols.md §4.5: psec munge needs the munge daemon's socket");
    }
    if (chosen == "native" && container_.uid_remapped) {
      v_.outcome = kOutcomeBridge;
      v_.problems.push_back(
          "psec native sends the container uid; the user namespace maps it to another host uid, so "
          "the server refuses (protocols.md §4.5, §6 pitfall 18)");
      Add("run", BridgeRun(kProtoPmix),
          "design.md §3: PMIx x PMIx = byte relay + credential rewrite for user namespaces");
      Add("flag", "or podman --userns=keep-id (same uid inside and out)", "protocols.md §4.5");
    }
  }

  bool ClientHasPsec(const std::string& mode) const {
    if (mode == "none") return true;
    // native is always built in; other modules only when the image has them.
    if (mode == "native") return true;
    return image_.HasComponent(absl::StrCat("psec/", mode));
  }

  const HostReport& host_;
  const ImageReport& image_;
  const ContainerFacts& container_;
  Verdict v_;
};

}  // namespace

Verdict Decide(const HostReport& host, const ImageReport& image, const ContainerFacts& container) {
  return Builder(host, image, container).Build();
}

std::string FormatVerdict(const Verdict& v) {
  std::string out = absl::StrCat(
      "Verdict: ", v.outcome,
      v.client_protocol.empty() ? "" : absl::StrCat(" (client speaks ", v.client_protocol, ")"),
      "\n  ", v.summary, "\n");
  for (const std::string& p : v.problems) absl::StrAppend(&out, "  ! ", p, "\n");
  if (!v.fixes.empty()) absl::StrAppend(&out, "Fix:\n");
  for (const Fix& f : v.fixes)
    absl::StrAppend(&out, "  ", f.kind, ": ", f.text, "\n      (", f.why, ")\n");
  return out;
}

nlohmann::json VerdictToJson(const Verdict& v) {
  nlohmann::json fixes = nlohmann::json::array();
  for (const Fix& f : v.fixes)
    fixes.push_back({{"kind", f.kind}, {"text", f.text}, {"why", f.why}});
  return {{"outcome", v.outcome},
          {"client_protocol", v.client_protocol},
          {"summary", v.summary},
          {"problems", v.problems},
          {"fixes", fixes}};
}

}  // namespace pmi_shim::diagnose
