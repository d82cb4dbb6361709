// config.json for test bundles; see oci_bundle.h.
#include "test/containers/oci_bundle.h"

#include <filesystem>
#include <fstream>
#include <system_error>

#include "absl/strings/str_cat.h"

namespace pmi_shim::containers {
namespace {

using nlohmann::json;

json MountJson(const OciMount& m) {
  json j = {{"destination", m.destination}, {"type", m.type}, {"source", m.source}};
  if (!m.options.empty()) j["options"] = m.options;
  return j;
}

json HookJson(const OciHook& h) {
  json j = {{"path", h.path}};
  if (!h.args.empty()) j["args"] = h.args;
  if (!h.env.empty()) j["env"] = h.env;
  if (h.timeout_seconds > 0) j["timeout"] = h.timeout_seconds;
  return j;
}

json DefaultMounts(bool host_dev_shm) {
  json mounts = json::array();
  mounts.push_back({{"destination", "/proc"}, {"type", "proc"}, {"source", "proc"}});
  mounts.push_back({{"destination", "/dev"},
                    {"type", "tmpfs"},
                    {"source", "tmpfs"},
                    {"options", {"nosuid", "strictatime", "mode=755", "size=65536k"}}});
  mounts.push_back(
      {{"destination", "/dev/pts"},
       {"type", "devpts"},
       {"source", "devpts"},
       {"options", {"nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"}}});
  if (host_dev_shm) {
    mounts.push_back({{"destination", "/dev/shm"},
                      {"type", "bind"},
                      {"source", "/dev/shm"},
                      {"options", {"rbind", "nosuid", "nodev"}}});
  } else {
    mounts.push_back({{"destination", "/dev/shm"},
                      {"type", "tmpfs"},
                      {"source", "shm"},
                      {"options", {"nosuid", "noexec", "nodev", "mode=1777", "size=65536k"}}});
  }
  mounts.push_back({{"destination", "/dev/mqueue"},
                    {"type", "mqueue"},
                    {"source", "mqueue"},
                    {"options", {"nosuid", "noexec", "nodev"}}});
  mounts.push_back({{"destination", "/sys"},
                    {"type", "sysfs"},
                    {"source", "sysfs"},
                    {"options", {"nosuid", "noexec", "nodev", "ro"}}});
  return mounts;
}

}  // namespace

json BundleConfig(const BundleSpec& spec) {
  json caps = {"CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"};
  json process = {
      {"terminal", false},
      {"user", {{"uid", spec.uid}, {"gid", spec.gid}}},
      {"args", spec.args},
      {"env", spec.env},
      {"cwd", spec.cwd},
      {"capabilities",
       {{"bounding", caps}, {"effective", caps}, {"permitted", caps}, {"ambient", caps}}},
      {"noNewPrivileges", true},
  };
  json namespaces = json::array();
  for (const std::string& type : spec.namespaces) namespaces.push_back({{"type", type}});
  json mounts = DefaultMounts(spec.host_dev_shm);
  for (const OciMount& m : spec.mounts) mounts.push_back(MountJson(m));

  json config = {
      {"ociVersion", "1.0.2-dev"},
      {"process", process},
      {"root", {{"path", spec.root_path}, {"readonly", spec.root_readonly}}},
      {"hostname", spec.hostname},
      {"mounts", mounts},
      {"linux",
       {{"namespaces", namespaces},
        {"maskedPaths",
         {"/proc/acpi", "/proc/kcore", "/proc/keys", "/proc/latency_stats", "/proc/timer_list",
          "/proc/timer_stats", "/proc/sched_debug", "/sys/firmware", "/proc/scsi"}},
        {"readonlyPaths",
         {"/proc/asound", "/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys",
          "/proc/sysrq-trigger"}}}},
  };
  json hooks = json::object();
  for (const OciHook& h : spec.hooks.create_runtime) hooks["createRuntime"].push_back(HookJson(h));
  for (const OciHook& h : spec.hooks.poststop) hooks["poststop"].push_back(HookJson(h));
  if (!hooks.empty()) config["hooks"] = hooks;
  if (!spec.annotations.empty()) config["annotations"] = spec.annotations;
  return config;
}

absl::Status WriteBundle(const std::string& dir, const BundleSpec& spec) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) return absl::InternalError(absl::StrCat("mkdir -p ", dir, ": ", ec.message()));
  std::string path = dir + "/config.json";
  std::ofstream out(path, std::ios::trunc);
  out << BundleConfig(spec).dump(2) << "\n";
  if (!out) return absl::InternalError(absl::StrCat("cannot write ", path));
  return absl::OkStatus();
}

}  // namespace pmi_shim::containers
