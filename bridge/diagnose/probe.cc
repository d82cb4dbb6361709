#include "bridge/diagnose/probe.h"

#include <pmix.h>
#include <stdlib.h>
#include <unistd.h>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "bridge/upstream/pmi_wire_host.h"
#include "bridge/upstream/pmix_client_host.h"
#include "common/event_loop.h"
#include "common/net/connector.h"
#include "common/status_macros.h"
#include "common/unique_fd.h"

namespace pmi_shim::diagnose {
namespace {

void FillInfo(const session::JobInfo& info, ProbeReport& report) {
  report.kvsname = info.kvsname;
  report.size = info.size;
  report.universe_size = info.universe_size;
  report.appnum = info.appnum;
  report.process_mapping = info.process_mapping;
  report.kvsname_max = info.limits.kvsname_max;
  report.keylen_max = info.limits.keylen_max;
  report.vallen_max = info.limits.vallen_max;
}

absl::StatusOr<ProbeReport> ProbePmix(const ProbeTarget& target, const upstream::Environment& env) {
  if (target.pmix_uri.has_value()) {
    for (const char* name : {"PMIX_SERVER_URI41", "PMIX_SERVER_URI4", "PMIX_SERVER_URI3",
                             "PMIX_SERVER_URI21", "PMIX_SERVER_URI2"}) {
      setenv(name, target.pmix_uri->c_str(), 1);
    }
  }
  EventLoop loop;
  ASSIGN_OR_RETURN(std::unique_ptr<upstream::PmixClientHost> host,
                   upstream::PmixClientHost::Connect(loop, {}));
  ProbeReport report;
  report.protocol = "PMIx";
  auto version = env.find("PMIX_VERSION");
  report.server_version = version == env.end() ? "?" : version->second;
  report.client_library = PMIx_Get_version();
  report.rendezvous = "PMIX_SERVER_URI*";
  report.rank = host->rank();
  FillInfo(host->info(), report);
  loop.Post([&] {
    host->Finalized(host->rank());
    loop.Stop();
  });
  RETURN_IF_ERROR(loop.Run());
  return report;
}

std::optional<int> EnvInt(const upstream::Environment& env, const char* name) {
  auto it = env.find(name);
  int value;
  if (it == env.end() || !absl::SimpleAtoi(it->second, &value)) return std::nullopt;
  return value;
}

// A connected Unix stream socket to `path`.
absl::StatusOr<UniqueFd> ConnectSocket(const std::string& path) {
  absl::StatusOr<UniqueFd> connected = net::ConnectUnix(path);
  if (connected.ok() || absl::IsInvalidArgument(connected.status())) return connected;
  return absl::UnavailableError(
      absl::StrCat("cannot connect to ", path, "; is the server running?"));
}

// The PMI wire server that --pmi-port, --pmi-fd or --socket names.
absl::StatusOr<upstream::HostEndpoint> EndpointOfTarget(const upstream::Environment& env,
                                                        const ProbeTarget& target) {
  upstream::HostEndpoint endpoint;
  endpoint.family = upstream::HostFamily::kPmiWire;
  if (target.pmi_port.has_value()) {
    const size_t colon = target.pmi_port->find(':');
    int port;
    if (colon == std::string::npos ||
        !absl::SimpleAtoi(target.pmi_port->substr(colon + 1), &port)) {
      return absl::InvalidArgumentError(
          absl::StrCat("--pmi-port ", *target.pmi_port, " is not HOST:PORT"));
    }
    endpoint.port_host = target.pmi_port->substr(0, colon);
    endpoint.port = port;
    endpoint.id = target.pmi_id.has_value() ? target.pmi_id : EnvInt(env, "PMI_ID");
    if (!endpoint.id) endpoint.id = EnvInt(env, "PMI_RANK").value_or(0);
    return endpoint;
  }
  int fd = target.pmi_fd.value_or(-1);
  if (target.socket_path.has_value()) {
    ASSIGN_OR_RETURN(UniqueFd connected, ConnectSocket(*target.socket_path));
    // PmiWireHost::Connect takes it over, as it takes an inherited PMI_FD.
    fd = connected.Release();
  }
  endpoint.fd = fd;
  endpoint.rank = target.pmi_id.has_value() ? target.pmi_id : EnvInt(env, "PMI_RANK");
  endpoint.size = EnvInt(env, "PMI_SIZE");
  if (!endpoint.rank) endpoint.rank = 0;
  return endpoint;
}

// The handshake through PmiWireHost, then a finalize the server must
// acknowledge within 10 s.
absl::StatusOr<ProbeReport> ProbeWire(const upstream::HostEndpoint& endpoint,
                                      upstream::WireProtocol protocol) {
  ProbeReport report;
  EventLoop loop;
  upstream::PmiWireHost::Options options;
  options.trace = [&report](bool to_host, const wire::Message& m) {
    if (!to_host && m.command == "response_to_init") {
      report.server_version = absl::StrCat(m.Find("pmi_version").value_or("?"), ".",
                                           m.Find("pmi_subversion").value_or("?"));
    }
  };
  bool finalized = false;
  options.on_finalized = [&] {
    finalized = true;
    loop.Stop();
  };
  options.on_upstream_lost = [&](std::string) { loop.Stop(); };
  ASSIGN_OR_RETURN(std::unique_ptr<upstream::PmiWireHost> host,
                   upstream::PmiWireHost::Connect(loop, endpoint, protocol, std::move(options)));
  report.protocol = std::string(upstream::WireProtocolName(host->protocol()));
  report.rendezvous = endpoint.Describe();
  report.rank = host->rank();
  FillInfo(host->info(), report);
  loop.Post([&] { host->Finalized(host->rank()); });
  loop.AddTimer(absl::Seconds(10), [&] { loop.Stop(); });
  RETURN_IF_ERROR(loop.Run());
  if (!finalized)
    return absl::DeadlineExceededError("the server did not acknowledge finalize within 10 s");
  return report;
}

}  // namespace

absl::StatusOr<ProbeReport> Probe(const upstream::Environment& env, const ProbeTarget& target) {
  if (target.pmix_uri.has_value()) return ProbePmix(target, env);
  upstream::HostEndpoint endpoint;
  if (target.pmi_port.has_value() || target.pmi_fd.has_value() || target.socket_path.has_value()) {
    ASSIGN_OR_RETURN(endpoint, EndpointOfTarget(env, target));
  } else {
    ASSIGN_OR_RETURN(endpoint, upstream::DetectHostEndpoint(env, upstream::UpstreamChoice::kAuto));
    if (endpoint.family == upstream::HostFamily::kPmix) return ProbePmix(target, env);
    if (endpoint.family == upstream::HostFamily::kNone) {
      return absl::NotFoundError(
          "no PMI server in the environment; give --pmi-port, --pmi-fd, --socket or --pmix-uri");
    }
  }
  upstream::WireProtocol protocol = endpoint.protocol;
  if (target.protocol == "pmi1") protocol = upstream::WireProtocol::kPmi1;
  if (target.protocol == "pmi2") protocol = upstream::WireProtocol::kPmi2;
  return ProbeWire(endpoint, protocol);
}

std::string FormatProbeReport(const ProbeReport& r) {
  return absl::StrCat(
      "protocol:   ", r.protocol, "\nversion:    ", r.server_version,
      r.client_library.empty() ? "" : absl::StrCat(" (probed with ", r.client_library, ")"),
      "\nrendezvous: ", r.rendezvous, "\nkvsname:    ", r.kvsname, "\nrank:       ", r.rank,
      "\nsize:       ", r.size, "\nuniverse:   ", r.universe_size, "\nappnum:     ", r.appnum,
      "\nmapping:    ", r.process_mapping.value_or("(none)"),
      "\nlimits:     kvsname_max=", r.kvsname_max, " keylen_max=", r.keylen_max,
      " vallen_max=", r.vallen_max, "\n");
}

nlohmann::json ProbeReportToJson(const ProbeReport& r) {
  return {{"protocol", r.protocol},
          {"server_version", r.server_version},
          {"client_library", r.client_library},
          {"rendezvous", r.rendezvous},
          {"kvsname", r.kvsname},
          {"rank", r.rank},
          {"size", r.size},
          {"universe_size", r.universe_size},
          {"appnum", r.appnum},
          {"process_mapping",
           r.process_mapping ? nlohmann::json(*r.process_mapping) : nlohmann::json()},
          {"limits",
           {{"kvsname_max", r.kvsname_max},
            {"keylen_max", r.keylen_max},
            {"vallen_max", r.vallen_max}}}};
}

}  // namespace pmi_shim::diagnose
