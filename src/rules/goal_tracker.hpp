// Goals ([[goals]] in the config): keeps each goal's value current and
// publishes a `metric` event whenever it moves, so a dashboard's progress bar
// moves live ("Laptops donated: 2,431 of 3,500").
//
// The value is recomputed from the store (one aggregate query) rather than
// added up from events, so it cannot drift from the records: after a commit
// that touches a goal's object it is recomputed once the commits have been
// quiet for `settle` or at least every `settle` while they go on, and at start.
//
// Thread-safety: on_commit() is called on the log's writer thread; values()
// from any thread; the queries run on `executor` (off the event loop).
#pragma once

#include "app/config.hpp"
#include "core/event.hpp"

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/json/value.hpp>

#include <atomic>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <vector>

namespace freshet::store {
class event_store;
}

namespace freshet::rules {

struct goal_value {
  std::string name, label, source, object;
  double target = 0;
  std::optional<double> value;  // none until first computed
  bool per_tenant = false;
  std::map<std::string, double> tenants;  // per_tenant: each tenant's value (absent: 0)
};

// A goal figure as JSON: whole numbers as integers (3500, not 3500.0).
boost::json::value goal_number(double v);

class goal_tracker {
 public:
  // The goals, and the sources that say which source holds each goal's object.
  goal_tracker(const std::vector<app::goal_config>& goals, const std::vector<app::source_config>& sources,
               store::event_store& log, boost::asio::any_io_executor executor,
               std::chrono::milliseconds settle = std::chrono::milliseconds(200));
  ~goal_tracker();

  // Computes every goal and publishes its first metric event.
  void start();
  // No more work is started (at shutdown).
  void stop();
  // The log's commit listener calls this with every committed batch.
  void on_commit(const std::vector<core::event_ptr>& batch);

  // On a store several instances share, each computes the goals (for its
  // own API) but only the leader of a goal's source publishes its metric
  // events, so a move is one event for the deployment, not one per
  // instance. Set before start(); unset: this instance publishes them all.
  void set_publisher(std::function<bool(const std::string& source)> leads) { leads_ = std::move(leads); }

  std::vector<goal_value> values() const;
  bool empty() const { return goals_.empty(); }

 private:
  void schedule();
  void recompute();

  store::event_store& log_;
  boost::asio::any_io_executor executor_;
  const std::chrono::milliseconds settle_;
  std::set<std::string> objects_;          // objects some goal aggregates
  std::vector<app::goal_config> configs_;  // fixed after construction; same order as goals_
  mutable std::mutex mu_;                  // guards everything below
  std::vector<goal_value> goals_;          // only `value` changes after construction
  // What this instance last published of each goal (same order): a new
  // leader publishes what differs from what it published, at its next
  // computation.
  struct published {
    std::optional<double> total;
    std::map<std::string, double> tenants;
  };
  std::vector<published> published_;
  std::function<bool(const std::string& source)> leads_;
  std::set<std::string> dirty_;    // objects changed since the last computation
  bool scheduled_ = false;
  bool stopped_ = false;
  std::unique_ptr<boost::asio::steady_timer> timer_;
};

}  // namespace freshet::rules
