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
  std::chrono::seconds retain_age{168 * 3600};  // and none older than this
  std::size_t max_batch = 4096;              // events per transaction at most
  std::size_t max_pending = 100'000;         // queued appends beyond: errc::store_overloaded
  std::chrono::milliseconds prune_every{5000};  // how often retention runs
};

struct event_log_counters {
  std::uint64_t committed = 0;     // events
  std::uint64_t transactions = 0;  // commits (each one fsync of the WAL)
  std::uint64_t pruned = 0;        // events removed by retention
  std::uint64_t rejected = 0;      // appends refused (overloaded or failed store)
};

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

  std::uint64_t first_id() const { return first_id_.load(); }  // oldest retained; 0: empty
  std::uint64_t last_id() const { return last_id_.load(); }    // newest committed; 0: none
  bool healthy() const { return !failed_.load(); }
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
  };
  void fail_pending(pending& p, boost::system::error_code ec);
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
  std::unique_ptr<statement> insert_, prune_;
  std::unique_ptr<class change_applier> applier_;
  std::chrono::steady_clock::time_point last_prune_{};

  // Protected by mu_.
  std::mutex mu_;
  std::condition_variable wake_;
  std::deque<pending> queue_;
  bool stopping_ = false;

  std::mutex readers_mu_;
  std::vector<std::unique_ptr<connection>> idle_readers_;

  std::atomic<std::uint64_t> first_id_{0}, last_id_{0};
  std::atomic<bool> failed_{false};
  std::atomic<std::uint64_t> committed_{0}, transactions_{0}, pruned_{0}, rejected_{0};

  std::thread writer_;
};

}  // namespace freshet::store
