#include "bridge/node/startup_exchange.h"

#include <memory>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"

namespace pmi_shim::node {
namespace {

absl::Status Context(const absl::Status& status, absl::string_view what) {
  return absl::Status(status.code(), absl::StrCat(what, ": ", status.message()));
}

// Reads every rank's hostname, then groups ranks by name.
void ReadHostnames(session::JobHost& host, int rank,
                   std::function<void(absl::StatusOr<NodePlan>)> done) {
  const int size = host.info().size;
  struct Reading {
    std::vector<std::string> names;
    int missing = 0;
    bool failed = false;
  };
  auto reading = std::make_shared<Reading>();
  reading->names.resize(size);
  reading->missing = size;
  for (int peer = 0; peer < size; ++peer) {
    host.Get(rank, HostnameKey(peer),
             [reading, peer, rank, done](absl::StatusOr<std::string> name) {
               if (reading->failed) return;
               if (!name.ok()) {
                 reading->failed = true;
                 done(Context(name.status(), absl::StrCat("rank ", peer, "'s hostname")));
                 return;
               }
               reading->names[peer] = *std::move(name);
               if (--reading->missing == 0) done(PlanFromHostnames(reading->names, rank));
             });
  }
}

}  // namespace

void RunStartupExchange(session::JobHost& host, int rank, const std::string& hostname,
                        std::function<void(absl::StatusOr<NodePlan>)> done) {
  const session::JobInfo& job = host.info();
  std::optional<NodePlan> plan;
  if (job.process_mapping.has_value()) {
    absl::StatusOr<NodePlan> mapped = PlanFromMapping(*job.process_mapping, job.size, rank);
    if (!mapped.ok()) {
      done(Context(mapped.status(), "the launcher's node layout"));
      return;
    }
    if (mapped->node_count == 1) {
      done(std::move(mapped));
      return;
    }
    plan = *std::move(mapped);
  }
  auto after_barrier = [&host, rank, plan, done](absl::Status status) {
    if (!status.ok()) {
      done(Context(status, "the start-up barrier"));
    } else if (plan.has_value()) {
      done(*plan);
    } else {
      ReadHostnames(host, rank, done);
    }
  };
  auto barrier = [&host, rank, after_barrier, done](absl::Status put) {
    if (!put.ok()) {
      done(Context(put, "publishing this node's hostname"));
      return;
    }
    host.Barrier(rank, after_barrier);
  };
  if (plan.has_value() && !plan->LeadsNode()) {
    barrier(absl::OkStatus());
    return;
  }
  host.Put(rank, HostnameKey(rank), hostname, barrier);
}

}  // namespace pmi_shim::node
