// Tenant refresh (POST /api/refresh): one job per tenant at a time reads that
// tenant's records of every object with a tenant_field (a filter upstream,
// not a full scan), commits the differences as events, and deletes the
// tenant's records that are gone upstream. It shares each source's rate
// limiter with polling, whose first-come order keeps polls of other tenants
// going between the job's requests.
//
// A request while the tenant's job runs joins it (same id). Within the
// cooldown after a job ended, a new one is refused with the time left. A job
// that runs past its timeout stops at its next page and ends `timed_out`;
// what it committed is whole pages, so the store stays consistent.
//
// Progress goes out as `job` events on the tenant's stream (and is readable
// by id): stage, object, pages and records done, the total where the upstream
// tells it, elapsed seconds; the last one carries the summary.
//
// Thread-safety: start() and find() from any thread; jobs run on the sync
// thread. Jobs are kept in memory (the latest 1,000); their events are durable.
#pragma once

#include "app/config.hpp"
#include "store/event_store.hpp"

#include <boost/json/object.hpp>

#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <variant>

namespace freshet::sources {
class sync_service;
}

namespace freshet::jobs {

struct refresh_started {
  std::string job_id;
  bool joined = false;  // a job for this tenant was already running
};
struct refresh_cooling {
  std::chrono::seconds retry_after;
};
struct refresh_unknown_tenant {};

// The cooldown rule on its own, a pure function of time (tested on a moved
// clock): how long a new refresh must still wait after one that ended at
// `ended`, rounded up to whole seconds for Retry-After; nothing when it may start.
std::optional<std::chrono::seconds> cooldown_left(std::chrono::steady_clock::time_point ended,
                                                  std::chrono::seconds cooldown,
                                                  std::chrono::steady_clock::time_point now);

class refresh_jobs {
 public:
  // How long a tenant's refresh may run, and must wait after the last one.
  struct limits {
    std::chrono::seconds cooldown{300};
    std::chrono::seconds timeout{300};
  };
  // `sources` say which objects have tenants.
  refresh_jobs(const std::vector<app::source_config>& sources, limits lim, store::event_store& log,
               sources::sync_service& sync);
  ~refresh_jobs();

  // Starts or joins the refresh of `tenant`. Blocking (a store read to know
  // the tenant): call off the event loop.
  std::variant<refresh_started, refresh_cooling, refresh_unknown_tenant> start(const std::string& tenant,
                                                                              const std::string& who);
  // The job as JSON (id, tenant, status, stage, counts, summary, error), and its tenant.
  std::optional<std::pair<boost::json::object, std::string>> find(const std::string& job_id) const;

 private:
  struct job;
  void run(std::shared_ptr<job> j);
  void announce(const job& j);  // a `job` event with the job's state now

  const std::vector<app::source_config>& sources_;
  const limits limits_;
  store::event_store& log_;
  sources::sync_service& sync_;
  mutable std::mutex mu_;  // guards everything below and every job's fields
  std::map<std::string, std::shared_ptr<job>> jobs_;          // by id
  std::map<std::string, std::shared_ptr<job>> by_tenant_;     // the latest job of each tenant
  std::uint64_t next_id_ = 1;
  const std::string id_prefix_;
};

}  // namespace freshet::jobs
