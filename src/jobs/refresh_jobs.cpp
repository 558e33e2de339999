#include "jobs/refresh_jobs.hpp"

#include "core/clock.hpp"
#include "sources/source_sync.hpp"
#include "sources/sync_service.hpp"
#include "sources/task_group.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/this_coro.hpp>

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include <cmath>
#include <random>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

namespace freshet::jobs {

namespace asio = boost::asio;
namespace json = boost::json;
using clock = std::chrono::steady_clock;

namespace {
constexpr std::size_t kKeptJobs = 1000;
// How long every instance can still answer for a job (a shared store).
constexpr std::chrono::seconds kSharedJobsKept{86400};
// A claim outlives the job's timeout by this much, so that the job's last
// page can land; an instance that died with the job frees it then.
constexpr std::chrono::seconds kClaimSlack{60};

// This process's job ids: unique among the instances of a deployment,
// which start in the same second often enough.
std::string job_id_prefix() {
  std::random_device rd;
  return fmt::format("r{:x}{:04x}", core::wall_ms() / 1000, rd() & 0xffff);
}

std::string claim_key(const std::string& tenant) { return "refresh:" + tenant; }

// Thrown from a page's progress report once the job is past its deadline.
struct job_timed_out : std::runtime_error {
  job_timed_out() : std::runtime_error("the refresh ran past its timeout") {}
};
}  // namespace

struct refresh_jobs::job {
  std::string id, tenant, who;
  std::string status = "running";  // running | succeeded | failed | timed_out
  std::string stage = "starting";  // starting | fetching | applying | done
  std::string object;              // the object the last progress was about
  std::uint64_t pages = 0, records = 0;
  std::optional<std::uint64_t> total;
  std::map<std::string, sources::fetch_progress> progress;  // per object
  clock::time_point started = clock::now();
  std::int64_t started_ms = core::wall_ms();
  std::optional<clock::time_point> ended;
  json::object summary;
  std::string error;

  double elapsed() const {
    return std::chrono::duration<double>(ended.value_or(clock::now()) - started).count();
  }
  json::object to_json() const {
    json::object o{{"job_id", id},
                   {"tenant", tenant},
                   {"status", status},
                   {"stage", stage},
                   {"object", object.empty() ? json::value(nullptr) : json::value(object)},
                   {"pages", pages},
                   {"records", records},
                   {"total", total ? json::value(*total) : json::value(nullptr)},
                   {"elapsed_seconds", std::round(elapsed() * 1000) / 1000},
                   {"started_at", core::format_iso8601_ms(std::chrono::system_clock::time_point(
                                      std::chrono::milliseconds(started_ms)))}};
    if (!summary.empty()) o["summary"] = summary;
    if (!error.empty()) o["error"] = error;
    return o;
  }
};

refresh_jobs::refresh_jobs(const std::vector<app::source_config>& sources, limits lim, store::event_store& log,
                           sources::sync_service& sync)
    : sources_(sources), limits_(lim), log_(log), sync_(sync), id_prefix_(job_id_prefix()) {}

refresh_jobs::~refresh_jobs() = default;

void refresh_jobs::announce(const job& j) {
  core::event_draft d;
  d.type = core::event_type::job;
  d.tenant = j.tenant;
  d.body = j.to_json();
  // Every instance answers GET /api/jobs/{id} (a shared store; else a no-op).
  log_.put_job(j.id, json::serialize(d.body), kSharedJobsKept);
  d.body.erase("tenant");  // the event's own tenant field says it
  log_.enqueue(std::move(d), [](boost::system::error_code, core::event_ptr) {});
}

std::optional<std::chrono::seconds> cooldown_left(clock::time_point ended, std::chrono::seconds cooldown,
                                                  clock::time_point now) {
  const auto ready = ended + cooldown;
  if (now >= ready) return std::nullopt;
  return std::chrono::ceil<std::chrono::seconds>(ready - now);
}

std::variant<refresh_started, refresh_cooling, refresh_unknown_tenant> refresh_jobs::start(const std::string& tenant,
                                                                                         const std::string& who) {
  {
    std::lock_guard lk(mu_);
    if (auto it = by_tenant_.find(tenant); it != by_tenant_.end()) {
      const auto& last = *it->second;
      if (!last.ended) return refresh_started{last.id, true};
      if (auto wait = cooldown_left(*last.ended, limits_.cooldown,
                                    clock::now()))
        return refresh_cooling{*wait};
    }
  }
  const bool known = [&] {
    for (const auto& s : sources_)
      for (const auto& o : s.objects)
        if (!o.tenant_field.empty() && log_.tenant_has_records(s.name, o.name, tenant)) return true;
    return false;
  }();
  if (!known) return refresh_unknown_tenant{};

  std::string id;
  {
    std::lock_guard lk(mu_);
    id = fmt::format("{}-{}", id_prefix_, next_id_++);
  }
  // Instances sharing the store: one job a tenant among all of them, and
  // the cooldown after it, whichever instance ran it.
  if (auto claim = log_.claim_job(claim_key(tenant), id, limits_.timeout + kClaimSlack)) {
    if (claim->result == store::job_claim::outcome::running) return refresh_started{claim->job_id, true};
    if (claim->result == store::job_claim::outcome::cooling) return refresh_cooling{claim->retry_after};
  }

  std::shared_ptr<job> j;
  {
    std::lock_guard lk(mu_);
    // Another request may have started it while the store was read.
    if (auto it = by_tenant_.find(tenant); it != by_tenant_.end() && !it->second->ended) {
      log_.end_job(claim_key(tenant), id, std::chrono::seconds(0));  // the claim just taken is not needed
      return refresh_started{it->second->id, true};
    }
    j = std::make_shared<job>();
    j->id = id;
    j->tenant = tenant;
    j->who = who;
    jobs_[j->id] = j;
    by_tenant_[tenant] = j;
    while (jobs_.size() > kKeptJobs) {
      auto oldest = std::min_element(jobs_.begin(), jobs_.end(), [](const auto& a, const auto& b) {
        return a.second->started < b.second->started;
      });
      if (!oldest->second->ended) break;
      jobs_.erase(oldest);
    }
    announce(*j);
  }
  run(j);
  return refresh_started{j->id, false};
}

std::optional<std::pair<json::object, std::string>> refresh_jobs::find(const std::string& job_id) const {
  {
    std::lock_guard lk(mu_);
    if (auto it = jobs_.find(job_id); it != jobs_.end()) return std::make_pair(it->second->to_json(), it->second->tenant);
  }
  // Run by another instance: its latest state in the shared store.
  auto stored = log_.get_job(job_id);
  if (!stored) return std::nullopt;
  boost::system::error_code ec;
  auto v = json::parse(*stored, ec);
  if (ec || !v.is_object()) return std::nullopt;
  auto& o = v.get_object();
  const auto* t = o.if_contains("tenant");
  std::string tenant = t && t->is_string() ? std::string(t->get_string()) : std::string();
  return std::make_pair(std::move(o), std::move(tenant));
}

void refresh_jobs::run(std::shared_ptr<job> j) {
  asio::co_spawn(
      sync_.executor(),
      [this, j]() -> asio::awaitable<void> {
        const auto deadline = j->started + limits_.timeout;
        // Each page reports here; past the deadline the report stops the job.
        sources::progress_fn progress = [this, j, deadline](const std::string& object, const std::string& stage,
                                                            const sources::fetch_progress& p) {
          {
            std::lock_guard lk(mu_);
            j->stage = stage;
            j->object = object;
            j->progress[object] = p;
            j->pages = j->records = 0;
            std::uint64_t total = 0;
            bool all_known = true;
            for (const auto& [name, op] : j->progress) {
              j->pages += op.pages;
              j->records += op.records;
              if (op.total) total += *op.total;
              else all_known = false;
            }
            j->total = all_known ? std::optional<std::uint64_t>(total) : std::nullopt;
            announce(*j);
          }
          if (clock::now() > deadline) throw job_timed_out();
        };
        std::map<std::string, sources::object_sync_result> results;
        std::string error, status = "succeeded";
        // Every object at once; each source's limiter keeps the pace. A named
        // closure, since the coroutines it starts refer to it.
        auto one = [&](sources::source_sync* sync, const app::object_config* obj) -> asio::awaitable<void> {
          results[obj->name] = co_await sync->sync_object(*obj, true, j->tenant, progress);
        };
        sources::task_group group(co_await asio::this_coro::executor);
        try {
          // On an instance that does not lead a source, its connector has
          // not read what it needs yet: once, before the objects at once.
          for (const auto& s : sources_)
            if (sources::source_sync* sync = sync_.find(s.name); sync && s.kind != "webhook")
              co_await sync->ensure_prepared();
          for (const auto& s : sources_) {
            sources::source_sync* sync = sync_.find(s.name);
            if (!sync || s.kind == "webhook") continue;
            for (const auto& o : s.objects)
              if (!o.tenant_field.empty()) group.spawn(one(sync, &o));
          }
          co_await group.wait();
        } catch (const job_timed_out& e) {
          status = "timed_out";
          error = e.what();
        } catch (const std::exception& e) {
          status = "failed";
          error = e.what();
        }
        json::object per_object;
        std::uint64_t fetched = 0, created = 0, updated = 0, deleted = 0;
        for (const auto& [name, r] : results) {
          per_object[name] = {{"records", r.fetched}, {"created", r.created}, {"updated", r.updated}, {"deleted", r.deleted}};
          fetched += r.fetched;
          created += r.created;
          updated += r.updated;
          deleted += r.deleted;
        }
        store::change_set audit;
        {
          std::lock_guard lk(mu_);
          j->ended = clock::now();
          j->status = status;
          j->stage = "done";
          j->error = error;
          j->summary = {{"objects", std::move(per_object)}, {"records", fetched}, {"created", created},
                        {"updated", updated}, {"deleted", deleted},
                        {"duration_seconds", std::round(j->elapsed() * 1000) / 1000}};
          announce(*j);
          audit.audit.push_back({"refresh", "", j->who, status, j->to_json()});
        }
        log_.end_job(claim_key(j->tenant), j->id, limits_.cooldown);
        log_.enqueue_changes(std::move(audit), [](boost::system::error_code, store::change_result) {});
        spdlog::info("msg=\"refresh ended\" tenant={} job={} status={} records={} seconds={:.2f}", j->tenant, j->id,
                     status, fetched, j->elapsed());
      },
      asio::detached);
}

}  // namespace freshet::jobs
