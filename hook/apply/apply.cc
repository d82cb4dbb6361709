#include "hook/apply/apply.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "common/log.h"
#include "common/status_macros.h"
#include "common/unique_fd.h"
#include "hook/apply/applied_record.h"
#include "hook/apply/host_source.h"
#include "hook/apply/mount_namespace.h"
#include "hook/apply/relay_daemon.h"
#include "hook/apply/rootfs_path.h"

namespace pmi_shim::hook {
namespace {

std::string RecordPath(const ApplyOptions& options, const std::string& id) {
  return absl::StrCat(options.state_dir, "/", id, ".json");
}

absl::Status MakeStateDir(const std::string& dir) {
  if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) {
    return absl::ErrnoToStatus(errno, absl::StrCat("cannot create the state directory ", dir));
  }
  return absl::OkStatus();
}

// Written to a temporary name and renamed, so a reader (or a crash) never
// sees half a record.
absl::Status SaveRecord(const ApplyOptions& options, const AppliedRecord& record) {
  const std::string path = RecordPath(options, record.container_id);
  const std::string temporary = path + ".tmp";
  UniqueFd fd(
      ::open(temporary.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600));
  if (!fd.valid()) return absl::ErrnoToStatus(errno, absl::StrCat("cannot write ", temporary));
  const std::string text = EncodeRecord(record);
  if (::write(fd.get(), text.data(), text.size()) != static_cast<ssize_t>(text.size()) ||
      ::fsync(fd.get()) != 0) {
    return absl::ErrnoToStatus(errno, absl::StrCat("cannot write ", temporary));
  }
  if (::rename(temporary.c_str(), path.c_str()) != 0) {
    return absl::ErrnoToStatus(errno, absl::StrCat("cannot rename ", temporary));
  }
  return absl::OkStatus();
}

absl::StatusOr<AppliedRecord> LoadRecord(const std::string& path) {
  std::ifstream in(path);
  if (!in) return absl::NotFoundError(absl::StrCat("no applied-record ", path));
  std::stringstream text;
  text << in.rdbuf();
  absl::StatusOr<AppliedRecord> record = DecodeRecord(text.str());
  if (!record.ok())
    return absl::InvalidArgumentError(absl::StrCat(path, ": ", record.status().message()));
  return record;
}

void Keep(absl::Status* first, absl::Status next) {
  if (!next.ok()) log::Warning(next.message());
  if (first->ok() && !next.ok()) *first = std::move(next);
}

// Undoes `record` in reverse. `in_namespace`: the container is starting and
// its mount namespace is live (createRuntime failure) - unmount there too.
// Otherwise (poststop) only the created paths go, seen from the host.
absl::Status Undo(const AppliedRecord& record, bool in_namespace) {
  absl::Status first;
  for (auto it = record.relays.rbegin(); it != record.relays.rend(); ++it) {
    Keep(&first, StopRelayDaemon(it->pid, it->start_time));
  }
  UniqueFd root;
  for (auto it = record.mounts.rbegin(); it != record.mounts.rend(); ++it) {
    if (in_namespace) {
      absl::Status undone =
          UnbindInContainer(record.pid, record.rootfs, it->target, it->done, it->created);
      if (undone.ok()) continue;
      log::Warning(absl::StrCat("undo in the container's namespace: ", undone.message()));
    }
    if (it->created.empty()) continue;
    if (!root.valid()) root.Reset(::open(record.rootfs.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
    if (!root.valid()) {
      if (errno != ENOENT)
        Keep(&first, absl::ErrnoToStatus(errno, absl::StrCat("open ", record.rootfs)));
      continue;
    }
    Keep(&first, RemoveCreatedPaths(root.get(), it->created));
  }
  return first;
}

absl::Status CheckPlan(const Plan& plan) {
  if (!IsSafeContainerId(plan.container_id)) {
    return absl::InvalidArgumentError(
        absl::StrCat("container id \"", plan.container_id, "\" is not usable as a file name"));
  }
  if (plan.pid <= 0) return absl::InvalidArgumentError("the container state has no pid");
  if (plan.rootfs.empty() || plan.rootfs[0] != '/') {
    return absl::InvalidArgumentError(absl::StrCat("rootfs \"", plan.rootfs, "\" is not absolute"));
  }
  for (const MountStep& step : plan.mounts) RETURN_IF_ERROR(ValidateContainerPath(step.target));
  return absl::OkStatus();
}

absl::Status ApplySteps(const Plan& plan, const ApplyOptions& options, AppliedRecord& record) {
  for (const MountStep& step : plan.mounts) {
    ASSIGN_OR_RETURN(UniqueFd source, OpenHostSource(step.source, step.kind, plan.uid));
    record.mounts.push_back({step.source, step.target, false, {}});
    RETURN_IF_ERROR(SaveRecord(options, record));
    BindRequest request{source.get(), step.source, plan.rootfs,
                        step.target,  step.kind,   step.read_only};
    absl::Status saved;
    RETURN_IF_ERROR(BindIntoContainer(plan.pid, request, [&](const std::string& path) {
      record.mounts.back().created.push_back(path);
      if (saved.ok()) saved = SaveRecord(options, record);
    }));
    record.mounts.back().done = true;
    RETURN_IF_ERROR(saved);
    RETURN_IF_ERROR(SaveRecord(options, record));
  }
  if (!plan.private_netns) return absl::OkStatus();
  for (const RelayStep& step : plan.relays) {
    record.relays.push_back({step.address, step.port, 0, 0});
    RETURN_IF_ERROR(SaveRecord(options, record));
    RelayLaunch launch{options.self_path, plan.netns_path, step.address, step.port,
                       plan.uid,          plan.gid,        plan.pid};
    if (launch.netns_path.empty()) launch.netns_path = absl::StrCat("/proc/", plan.pid, "/ns/net");
    ASSIGN_OR_RETURN(RelayProcess process, StartRelayDaemon(launch));
    record.relays.back().pid = process.pid;
    record.relays.back().start_time = process.start_time;
    RETURN_IF_ERROR(SaveRecord(options, record));
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status ApplyPlan(const Plan& plan, const ApplyOptions& options) {
  RETURN_IF_ERROR(CheckPlan(plan));
  if (plan.empty()) return absl::OkStatus();
  RETURN_IF_ERROR(MakeStateDir(options.state_dir));
  // A record left by an earlier container of the same id (a crash before its
  // poststop) would be overwritten and its leftovers forgotten: clean first.
  if (::access(RecordPath(options, plan.container_id).c_str(), F_OK) == 0) {
    log::Warning(absl::StrCat("container ", plan.container_id,
                              ": cleaning up a stale applied-record first"));
    (void)CleanupContainer(plan.container_id, options);
  }
  AppliedRecord record;
  record.container_id = plan.container_id;
  record.pid = plan.pid;
  record.rootfs = plan.rootfs;
  absl::Status applied = ApplySteps(plan, options, record);
  if (applied.ok()) return applied;
  (void)Undo(record, /*in_namespace=*/true);
  ::unlink(RecordPath(options, plan.container_id).c_str());
  ::unlink((RecordPath(options, plan.container_id) + ".tmp").c_str());
  return absl::Status(applied.code(), absl::StrCat("container ", plan.container_id, ": ",
                                                   applied.message(), " (nothing was applied)"));
}

absl::Status CleanupContainer(const std::string& container_id, const ApplyOptions& options) {
  if (!IsSafeContainerId(container_id)) {
    return absl::InvalidArgumentError(
        absl::StrCat("container id \"", container_id, "\" is not usable as a file name"));
  }
  const std::string path = RecordPath(options, container_id);
  absl::StatusOr<AppliedRecord> record = LoadRecord(path);
  if (!record.ok() && absl::IsNotFound(record.status())) return absl::OkStatus();
  if (!record.ok()) {
    // Unreadable: keep it for a human rather than lose the only trace.
    return record.status();
  }
  absl::Status undone = Undo(*record, /*in_namespace=*/false);
  // Removed even when a step failed: the failure is reported now, and a
  // second poststop could do no better.
  ::unlink(path.c_str());
  ::unlink((path + ".tmp").c_str());
  if (!undone.ok()) {
    return absl::Status(undone.code(), absl::StrCat("container ", container_id,
                                                    ": cleanup incomplete: ", undone.message()));
  }
  return absl::OkStatus();
}

int RunRelayVerb(const std::vector<std::string>& args) { return RunRelayVerbImpl(args); }

}  // namespace pmi_shim::hook
