// The durable, ordered event log. One writer thread owns the write connection
// and group-commits: every append queued while a transaction is being written
// joins the next one, so many events share one fsync. An append completes only
// after its transaction is on disk; then, in id order, the commit listener (the
// hub) gets the batch. Reads run on any thread with their own connections
// (SQLite WAL lets them proceed beside the writer); call them off the event loop.
//
// Thread-safety: every public member may be called from any thread.
#pragma once

#include "core/errors.hpp"
#include "core/event.hpp"
#include "core/topic_filter.hpp"
#include "store/change_set.hpp"
#include "store/sqlite_db.hpp"

#include <boost/asio/associated_executor.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/post.hpp>

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


struct event_log_options {
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

struct event_log_counters {
  std::uint64_t committed = 0;     // events
  std::uint64_t transactions = 0;  // commits (each one fsync of the WAL)
  std::uint64_t pruned = 0;        // events removed by retention
  std::uint64_t rejected = 0;      // appends refused (overloaded, full or failed store)
  std::uint64_t full_failures = 0; // commits the file system refused for want of space
  std::uint64_t audit_pruned = 0;  // audit rows removed by retention
};

// The state of the store's writes, for /readyz and the metrics.
enum class store_health { ok, full, failed };

class event_log {
 public:
  using commit_listener = std::function<void(const std::vector<core::event_ptr>&)>;
  using append_callback = std::function<void(boost::system::error_code, core::event_ptr)>;
  using changes_callback = std::function<void(boost::system::error_code, change_result)>;

  // Opens or creates the file, migrates it, starts the writer. Throws on failure.
  explicit event_log(event_log_options opts);
  // Finishes every queued append, then stops the writer.
  ~event_log();

  // Set once, before the first append: who hears of committed events.
  void set_commit_listener(commit_listener l) { listener_ = std::move(l); }

  // Appends one event; the completion (error_code, event_ptr) runs on the
  // handler's associated executor after the commit is durable.
  template <class CompletionToken>
  auto async_append(core::event_draft draft, CompletionToken&& token) {
    return boost::asio::async_initiate<CompletionToken, void(boost::system::error_code, core::event_ptr)>(
        [this](auto handler, core::event_draft d) {
          auto work = boost::asio::make_work_guard(boost::asio::get_associated_executor(handler));
          auto shared = std::make_shared<decltype(handler)>(std::move(handler));
          enqueue(std::move(d), [shared, work](boost::system::error_code ec, core::event_ptr ev) {
            boost::asio::post(work.get_executor(),
                              [shared, ec, ev]() mutable { (*shared)(ec, std::move(ev)); });
          });
        },
        token, std::move(draft));
  }

  // The raw form: `done` runs on the writer thread; it must not block.
  void enqueue(core::event_draft draft, append_callback done);

  // Commits a change set (records, sync state, events) in one transaction;
  // the completion (error_code, change_result) runs on the handler's
  // associated executor once it is durable.
  template <class CompletionToken>
  auto async_apply(change_set cs, CompletionToken&& token) {
    return boost::asio::async_initiate<CompletionToken, void(boost::system::error_code, change_result)>(
        [this](auto handler, change_set c) {
          auto work = boost::asio::make_work_guard(boost::asio::get_associated_executor(handler));
          auto shared = std::make_shared<decltype(handler)>(std::move(handler));
          enqueue_changes(std::move(c), [shared, work](boost::system::error_code ec, change_result r) {
            boost::asio::post(work.get_executor(), [shared, ec, r]() mutable { (*shared)(ec, r); });
          });
        },
        token, std::move(cs));
  }
  void enqueue_changes(change_set cs, changes_callback done);

  // Runs f(connection&) on a pooled read connection and returns its result:
  // the other tables' queries (store/queries.hpp) share the log's readers.
  // Blocking: disk I/O.
  template <class F>
  auto read(F&& f) {
    auto db = take_reader();
    struct giver {
      event_log* log;
      std::unique_ptr<connection>& c;
      ~giver() { log->return_reader(std::move(c)); }
    } give_back{this, db};
    return f(*db);
  }

  // Committed events with after < id <= upto that match the filter, in id
  // order, at most `limit`. Blocking: disk I/O.
  std::vector<core::event_ptr> read_range(std::uint64_t after, std::uint64_t upto,
                                          const core::topic_filter& filter, std::size_t limit);

  // The oldest retained id; when retention emptied the log, the next id to
  // come (so that every resume point before it is known to be pruned); 0 when
  // nothing was ever committed.
  std::uint64_t first_id() const { return first_id_.load(); }
  // The newest id ever committed in this data dir (the durable high-water
  // mark, kept across restarts and full pruning); 0: none.
  std::uint64_t last_id() const { return last_id_.load(); }
  // Moves with every commit that writes or deletes a record (durable too).
  std::uint64_t records_version() const { return records_version_.load(); }
  bool healthy() const { return health() == store_health::ok; }
  store_health health() const { return health_.load(); }
  event_log_counters counters() const;

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

  const event_log_options opts_;
  commit_listener listener_;

  // Owned by the writer thread only.
  std::unique_ptr<connection> writer_db_;
  std::unique_ptr<statement> insert_, prune_, prune_audit_, high_water_, bump_records_;
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
