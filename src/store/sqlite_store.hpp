// The SQLite engine of the store (store/event_store.hpp). One writer thread owns the write connection
// and group-commits: every append queued while a transaction is being written
// joins the next one, so many events share one fsync. An append completes only
// after its transaction is on disk; then, in id order, the commit listener (the
// hub) gets the batch. Reads run on any thread with their own connections
// (SQLite WAL lets them proceed beside the writer); call them off the event loop.
//
// Thread-safety: every public member may be called from any thread.
#pragma once

#include "store/event_store.hpp"
#include "store/sqlite_db.hpp"

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace freshet::store {


struct sqlite_store_options {
  std::string path;                          // the SQLite file
  std::uint64_t retain_events = 1'000'000;   // keep at most this many events
  std::chrono::seconds retain_age{168 * 3600};  // and none older than this (audit rows too)
  std::size_t max_batch = 4096;              // events per transaction at most
  std::size_t max_pending = 100'000;         // queued appends beyond: errc::store_overloaded
  // Queued bytes beyond (an estimate of what the writes hold): store_overloaded,
  // so that a flood of large writes cannot grow memory without end.
  std::size_t max_pending_bytes = 64 * 1024 * 1024;
  std::chrono::milliseconds prune_every{5000};  // how often retention runs
  // Rows one retention statement deletes at most: a large prune runs as many
  // short deletes between commits instead of one that stalls every append.
  std::size_t prune_batch = 10'000;
  // While the disk is full, how often the writer tries a small commit to
  // find out whether space is back (writes that come in are tried anyway).
  std::chrono::milliseconds full_probe_every{1000};
  // Wall-clock milliseconds since the epoch: event times and retention by age.
  // Tests inject a clock of their own.
  std::function<std::int64_t()> wall_ms;
};

class sqlite_store final : public event_store {
 public:
  // Opens or creates the file, migrates it, starts the writer. Throws on failure.
  explicit sqlite_store(sqlite_store_options opts);
  // Finishes every queued append, then stops the writer.
  ~sqlite_store() override;

  // Set once, before the first append: who hears of committed events.
  void set_commit_listener(commit_listener l) override { listener_ = std::move(l); }

  void enqueue(core::event_draft draft, append_callback done) override;
  void enqueue_changes(change_set cs, changes_callback done) override;

  // Runs f(connection&) on a pooled read connection and returns its result:
  // the queries below (store/queries.hpp) share the log's readers; so do the
  // tests. Blocking: disk I/O.
  template <class F>
  auto read(F&& f) {
    auto db = take_reader();
    struct giver {
      sqlite_store* log;
      std::unique_ptr<connection>& c;
      ~giver() { log->return_reader(std::move(c)); }
    } give_back{this, db};
    return f(*db);
  }

  std::vector<core::event_ptr> read_range(std::uint64_t after, std::uint64_t upto, const core::topic_filter& filter,
                                          std::size_t limit) override;
  std::uint64_t first_id() const override { return first_id_.load(); }
  std::uint64_t last_id() const override { return last_id_.load(); }
  std::uint64_t records_version() const override { return records_version_.load(); }
  store_health health() const override { return health_.load(); }
  std::string_view engine_name() const override { return "sqlite"; }
  std::string durability() const override { return "an fsync of the WAL per commit"; }
  store_counters counters() const override;

  std::map<std::string, std::string> load_sync_state(const std::string& source) override;
  snapshot_page read_snapshot(const std::string& source, const std::string& object,
                              const std::vector<std::string>& tenants, const std::string& after_id,
                              std::size_t limit) override;
  std::optional<stored_record> find_record(const std::string& source, const std::string& object,
                                           const std::string& id) override;
  std::vector<tenant_summary> summarize_object(const std::string& source, const std::string& object) override;
  bool tenant_has_records(const std::string& source, const std::string& object, const std::string& tenant) override;
  double aggregate_records(const std::string& source, const std::string& object,
                           const std::vector<std::pair<std::string, std::string>>& where,
                           const std::string& sum_field) override;
  std::map<std::string, double> aggregate_records_by_tenant(
      const std::string& source, const std::string& object,
      const std::vector<std::pair<std::string, std::string>>& where, const std::string& sum_field) override;
  std::vector<std::pair<std::int64_t, double>> goal_days(const std::string& goal) override;
  std::vector<audit_row> list_audit(std::int64_t after_id, std::size_t limit, bool newest = false) override;

 private:
  // One queued write: an event draft, or a change set (then `changes` is set).
  struct pending {
    core::event_draft draft;
    append_callback done;
    std::unique_ptr<change_set> changes;
    changes_callback changes_done;
    core::event_ptr event;  // filled by the commit: the draft's event, or
    change_result result;   // the change set's result
    std::size_t bytes = 0;  // its estimated size, counted in queued_bytes_
  };
  void fail_pending(pending& p, boost::system::error_code ec);
  // Why a write of `bytes` is refused now, or none. Under mu_.
  boost::system::error_code refusal(std::size_t bytes) const;
  std::int64_t now_ms() const;
  void probe_space();
  static std::size_t cost_of(const pending& p);
  struct reader_lease;

  void run_writer();
  void commit_batch(std::vector<pending>& batch);
  void prune();
  void load_bounds();
  std::unique_ptr<connection> take_reader();
  void return_reader(std::unique_ptr<connection> c);

  const sqlite_store_options opts_;
  commit_listener listener_;

  // Owned by the writer thread only.
  std::unique_ptr<connection> writer_db_;
  std::unique_ptr<statement> insert_, oldest_, prune_, prune_audit_, high_water_, bump_records_;
  // Prepared once: sqlite3_exec parses its text on every commit.
  std::unique_ptr<statement> begin_, commit_;
  std::unique_ptr<class change_applier> applier_;
  std::chrono::steady_clock::time_point last_prune_{}, last_probe_{};
  bool prune_backlog_ = false;

  // Protected by mu_.
  std::mutex mu_;
  std::condition_variable wake_;
  std::deque<pending> queue_;
  std::size_t queued_bytes_ = 0;
  bool stopping_ = false;

  std::mutex readers_mu_;
  std::vector<std::unique_ptr<connection>> idle_readers_;

  std::atomic<std::uint64_t> first_id_{0}, last_id_{0}, records_version_{0};
  std::atomic<store_health> health_{store_health::ok};
  std::atomic<std::uint64_t> committed_{0}, transactions_{0}, pruned_{0}, rejected_{0}, full_failures_{0},
      audit_pruned_{0};

  std::thread writer_;
};

}  // namespace freshet::store
