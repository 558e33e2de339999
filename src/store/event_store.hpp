// The store as the rest of Freshet sees it, whatever engine holds it: a
// durable, ordered event log that group-commits appends and change sets
// (records, sync state, audit and events in one atomic commit), range reads
// for replay, the deployment's id bounds, and the queries of the read API.
// The hub, sources, jobs, rules and API depend on this, not on an engine;
// store/sqlite_store.hpp is the SQLite one, and every engine passes the
// contract suite (tests/unit/store_contract_test.cpp).
//
// The promises every engine keeps:
// - An append or change set completes only once it is durable; then, in id
//   order, the commit listener gets the batch, before the completion runs.
// - Event ids are the deployment's: strictly increasing, never reused, not
//   even after a restart or after retention emptied the log (last_id()).
// - A change set commits whole or not at all, and its events carry the ids
//   of the commit that wrote its records: a snapshot read with
//   last_event_id N holds every change up to N and none after.
//
// Thread-safety: every member may be called from any thread. The reads block
// (disk or network): call them off the event loop.
#pragma once

#include "core/errors.hpp"
#include "core/event.hpp"
#include "core/post_batch.hpp"
#include "core/topic_filter.hpp"
#include "store/change_set.hpp"

#include <boost/asio/associated_executor.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/post.hpp>
#include <boost/json/object.hpp>

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace freshet::store {

struct store_counters {
  std::uint64_t committed = 0;     // events
  std::uint64_t transactions = 0;  // commits (each one durable write: an fsync of SQLite's WAL)
  std::uint64_t pruned = 0;        // events removed by retention
  std::uint64_t rejected = 0;      // appends refused (overloaded, full or failed store)
  std::uint64_t full_failures = 0; // commits the file system refused for want of space
  std::uint64_t audit_pruned = 0;  // audit rows removed by retention
  std::uint64_t fenced = 0;        // change sets refused: their lease had moved to another instance
};

// The state of the store's writes, for /readyz and the metrics.
// unavailable: the engine's server (Redis) cannot be reached; writes are
// refused until it can.
enum class store_health { ok, full, failed, unavailable };

struct stored_record {
  std::string id;
  std::string tenant;
  boost::json::object fields;
  std::uint64_t updated_event_id = 0;
};

// A record as stored: its id, tenant and the canonical JSON text of its
// fields, unparsed, so that an answer can splice it in as it is.
struct raw_record {
  std::string id;
  std::string tenant;
  std::string data;  // a JSON object: {"field":value,...}
};

// A page of an object's records ordered by id, read at one point of the log:
// every change after last_event_id is after the page (records and events
// commit together).
struct snapshot_page {
  std::vector<raw_record> records;
  std::uint64_t last_event_id = 0;
  std::uint64_t records_version = 0;  // event_store::records_version() as of this read
};

struct tenant_summary {
  std::string tenant;  // "" for records with no tenant
  std::uint64_t records = 0;
  std::int64_t last_sync_ms = 0;  // 0: never synced as a tenant or as a whole object
};

// The summaries of an object from its record counts per tenant and its sync
// times: a tenant was last synced by its own refresh or by a sync of the
// whole object (`whole_ms`), whichever is newer; a tenant synced but with no
// records left is listed with 0 records. (store/summaries.cpp)
std::vector<tenant_summary> with_sync_times(std::vector<tenant_summary> counts, std::int64_t whole_ms,
                                            const std::map<std::string, std::int64_t>& own_ms);

// A start slot on a pace shared by every instance (event_store::take_slot).
struct shared_slot {
  std::chrono::microseconds delay{0};  // how long the caller waits before it starts
  std::int64_t at_us = 0;              // the slot on the engine's clock (tests compare these)
};

// What claiming a job for a key found (event_store::claim_job).
struct job_claim {
  enum class outcome { claimed, running, cooling } result = outcome::claimed;
  std::string job_id;  // running: the job that runs (whichever instance runs it)
  std::chrono::seconds retry_after{0};  // cooling: how long until a new one may start
};

struct audit_row {
  std::int64_t id = 0;
  std::string at, kind, source, who, outcome;
  std::string detail;  // JSON
};

class event_store {
 public:
  using commit_listener = std::function<void(const std::vector<core::event_ptr>&)>;
  using append_callback = std::function<void(boost::system::error_code, core::event_ptr)>;
  using changes_callback = std::function<void(boost::system::error_code, change_result)>;

  virtual ~event_store() = default;

  // Set once, before the first append: who hears of committed events.
  virtual void set_commit_listener(commit_listener l) = 0;

  // Appends one event; `done` runs on the engine's writer once it is
  // durable (or refused: errc::store_overloaded, store_full, store_failed).
  // It must not block.
  virtual void enqueue(core::event_draft draft, append_callback done) = 0;
  // Commits a change set in one atomic commit; `done` as for enqueue.
  virtual void enqueue_changes(change_set cs, changes_callback done) = 0;

  // The same, completing on the handler's associated executor. An engine that
  // completes a batch at once opens a core::post_batch around it, so each
  // event loop is woken once per commit rather than once per append.
  template <class CompletionToken>
  auto async_append(core::event_draft draft, CompletionToken&& token) {
    return boost::asio::async_initiate<CompletionToken, void(boost::system::error_code, core::event_ptr)>(
        [this](auto handler, core::event_draft d) {
          auto work = boost::asio::make_work_guard(boost::asio::get_associated_executor(handler));
          auto shared = std::make_shared<decltype(handler)>(std::move(handler));
          enqueue(std::move(d), [shared, work](boost::system::error_code ec, core::event_ptr ev) {
            core::post_batched(work.get_executor(), [shared, ec, ev]() mutable { (*shared)(ec, std::move(ev)); });
          });
        },
        token, std::move(draft));
  }
  template <class CompletionToken>
  auto async_apply(change_set cs, CompletionToken&& token) {
    return boost::asio::async_initiate<CompletionToken, void(boost::system::error_code, change_result)>(
        [this](auto handler, change_set c) {
          auto work = boost::asio::make_work_guard(boost::asio::get_associated_executor(handler));
          auto shared = std::make_shared<decltype(handler)>(std::move(handler));
          enqueue_changes(std::move(c), [shared, work](boost::system::error_code ec, change_result r) {
            core::post_batched(work.get_executor(), [shared, ec, r]() mutable { (*shared)(ec, r); });
          });
        },
        token, std::move(cs));
  }

  // Committed events with after < id <= upto that match the filter, in id
  // order, at most `limit`. Blocking.
  virtual std::vector<core::event_ptr> read_range(std::uint64_t after, std::uint64_t upto,
                                                  const core::topic_filter& filter, std::size_t limit) = 0;

  // The oldest retained id; when retention emptied the log, the next id to
  // come (so that every resume point before it is known to be pruned); 0 when
  // nothing was ever committed.
  virtual std::uint64_t first_id() const = 0;
  // The newest id ever committed in this deployment (the durable high-water
  // mark, kept across restarts and full pruning); 0: none.
  virtual std::uint64_t last_id() const = 0;
  // The same as the store holds it now. Blocking. On an engine shared by
  // several instances it can be ahead of last_id(), which is what this
  // instance has heard of so far.
  virtual std::uint64_t read_last_id() { return last_id(); }
  // Moves with every commit that writes or deletes a record (durable too).
  virtual std::uint64_t records_version() const = 0;
  virtual store_health health() const = 0;
  // "sqlite" or "redis", and what an acknowledged write survives, for
  // /readyz and /api/stats.
  virtual std::string_view engine_name() const = 0;
  // Several instances may use this store at once (Redis); then leases say
  // which of them does what only one may do.
  virtual bool shared() const { return false; }
  virtual std::string durability() const = 0;
  // The latest round trip to the engine's server (Redis), none for an
  // embedded engine or before the first measurement.
  virtual std::optional<double> round_trip_ms() const { return std::nullopt; }
  bool healthy() const { return health() == store_health::ok; }
  virtual store_counters counters() const = 0;

  // Holds (takes or renews) the lease `name` for `ttl`: its fencing token
  // when this instance holds it, none when another does. Tokens of one
  // lease only grow. Blocking. An engine only one process can use (SQLite:
  // the data dir lock) always grants it, with token 1, and commits every
  // fence.
  virtual std::optional<std::uint64_t> hold_lease(const std::string& name, std::chrono::milliseconds ttl) {
    (void)name;
    (void)ttl;
    return 1;
  }
  // Gives the lease up, if this instance holds it (a clean stop: another
  // instance need not wait for it to expire). Blocking.
  virtual void release_lease(const std::string& name) { (void)name; }

  // Messages between the instances of a deployment: a webhook that reached a
  // follower is handed to the source's leader this way. Every instance's
  // listener (the sender's too) hears each message once, soon after it was
  // sent; best effort, not durable: a message sent while an instance cannot
  // hear it (Redis away, not started yet) is not heard there, so what it
  // carries must also be reached another way (the leader's next poll). An
  // engine only one process can use hands the message to its own listener
  // at once, on the sender's thread. The listener runs on the engine's
  // thread and must not block.
  using signal_listener = std::function<void(const std::string& topic, const std::string& body)>;
  // Set once, before the first signal.
  virtual void set_signal_listener(signal_listener l) { own_signals_ = std::move(l); }
  // Does not block.
  virtual void send_signal(const std::string& topic, const std::string& body) {
    if (own_signals_) own_signals_(topic, body);
  }

  // A pace shared by every instance, for the rate limit of one upstream
  // credential: the next start slot, `spacing` after the one before it
  // (whichever instance took that) and not before a pause. None on an
  // engine only one process uses: the caller's own limiter is then the
  // whole truth. Blocking.
  virtual std::optional<shared_slot> take_slot(const std::string& pace, std::chrono::microseconds spacing) {
    (void)pace;
    (void)spacing;
    return std::nullopt;
  }
  // No slot of the pace starts within `wait` from now (the upstream answered
  // 429). Does not block.
  virtual void pause_slots(const std::string& pace, std::chrono::milliseconds wait) {
    (void)pace;
    (void)wait;
  }

  // Jobs that any instance may run and every instance must know of (tenant
  // refresh: one at a time per tenant, a cooldown after it). None on an
  // engine only one process uses: the caller's own table is the whole truth.
  // Claims `key` for job `job_id` for at most `hold` (a job whose instance
  // died frees its key then), or says which job holds it or how long its
  // cooldown lasts. Blocking.
  virtual std::optional<job_claim> claim_job(const std::string& key, const std::string& job_id,
                                             std::chrono::seconds hold) {
    (void)key;
    (void)job_id;
    (void)hold;
    return std::nullopt;
  }
  // The job holding `key` ended: no other for `cooldown`. Does not block;
  // while the engine's server is away it is kept and sent when it is back.
  virtual void end_job(const std::string& key, const std::string& job_id, std::chrono::seconds cooldown) {
    (void)key;
    (void)job_id;
    (void)cooldown;
  }
  // A job's state (JSON) for every instance to answer, kept for `keep`.
  // Writes of one job land in the order they were made. Does not block;
  // while the engine's server is away the latest is kept and sent when it
  // is back (until the store stops).
  virtual void put_job(const std::string& job_id, std::string state, std::chrono::seconds keep) {
    (void)job_id;
    (void)state;
    (void)keep;
  }
  // The latest state put. Blocking.
  virtual std::optional<std::string> get_job(const std::string& job_id) {
    (void)job_id;
    return std::nullopt;
  }

  // The read API's queries. Blocking.

  // sync_state rows of one source: key -> value.
  virtual std::map<std::string, std::string> load_sync_state(const std::string& source) = 0;
  // A page of an object's records ordered by id, after `after_id` ("" from
  // the start), of one tenant when `tenants` has one, of any of them when it
  // has several, of every tenant when it is empty; at most `limit`.
  virtual snapshot_page read_snapshot(const std::string& source, const std::string& object,
                                      const std::vector<std::string>& tenants, const std::string& after_id,
                                      std::size_t limit) = 0;
  virtual std::optional<stored_record> find_record(const std::string& source, const std::string& object,
                                                   const std::string& id) = 0;
  // Record counts and last sync times per tenant of one object.
  virtual std::vector<tenant_summary> summarize_object(const std::string& source, const std::string& object) = 0;
  // Whether any stored record of the object belongs to `tenant`.
  virtual bool tenant_has_records(const std::string& source, const std::string& object,
                                  const std::string& tenant) = 0;
  // The number of an object's records whose fields equal `where` (field
  // name, JSON text of the value), or the sum of the numeric field
  // `sum_field` over them when it is not empty (non-numbers count as 0).
  virtual double aggregate_records(const std::string& source, const std::string& object,
                                   const std::vector<std::pair<std::string, std::string>>& where,
                                   const std::string& sum_field) = 0;
  // The same per tenant (records with no tenant are left out).
  virtual std::map<std::string, double> aggregate_records_by_tenant(
      const std::string& source, const std::string& object,
      const std::vector<std::pair<std::string, std::string>>& where, const std::string& sum_field) = 0;
  // A goal's total at the end of each day the rules saw it (day numbers
  // since 1970-01-01), oldest first.
  virtual std::vector<std::pair<std::int64_t, double>> goal_days(const std::string& goal) = 0;
  // Audit entries after `after_id` in id order: the first `limit` of them,
  // or the newest `limit` when `newest`.
  virtual std::vector<audit_row> list_audit(std::int64_t after_id, std::size_t limit, bool newest = false) = 0;

 private:
  signal_listener own_signals_;  // the one-process engines' signals
};

}  // namespace freshet::store
