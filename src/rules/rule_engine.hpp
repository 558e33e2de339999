// Evaluates the [[rules]] on every committed change event and writes what
// fires into the outbox, on a thread of its own.
//
// It reads the events back from the log after its cursor rather than taking
// them from the commit listener, and commits its cursor with the outbox rows:
// a crash anywhere replays exactly the events whose firings were not yet
// written, so no notification is lost, none is made twice, and none exists for
// an event that was not committed. The listener only wakes it.
//
// The first start with rules begins at the log's end: history does not notify.
//
// Goal rules read the goals' `metric` events from the same log: a threshold
// rule fires when a goal's value crosses a percent of its target upwards; a
// pace rule runs daily at its local time and fires when the pace of its last
// days would miss the goal's deadline. What they remember (each goal's last
// value, its value at the end of each day, the last pace run) commits with
// the cursor.
//
// Thread-safety: wake() from any thread; start()/stop() from the owner.
#pragma once

#include "rules/outbox.hpp"
#include "rules/rule_sections.hpp"

#include <atomic>
#include <condition_variable>
#include <functional>
#include <map>
#include <mutex>
#include <thread>

namespace freshet::store {
class event_store;
}

namespace freshet::rules {

struct rule_engine_counters {
  std::uint64_t evaluated = 0;  // (event, rule) pairs checked
  std::uint64_t fired = 0;      // firings written (per notifier)
  std::uint64_t coalesced = 0;  // of which gathered into an open message
  std::uint64_t refused = 0;    // firings refused by a full outbox
  std::uint64_t missed = 0;     // events retention removed before the rules read them

  rule_engine_counters& operator+=(const rule_engine_counters& o) {
    evaluated += o.evaluated;
    fired += o.fired;
    coalesced += o.coalesced;
    refused += o.refused;
    missed += o.missed;
    return *this;
  }
};

class rule_engine {
 public:
  // on_firings runs (on the engine's thread) after a commit that added messages.
  // now_ms: the wall clock (tests pass their own).
  rule_engine(rule_sections cfg, store::event_store& log, outbox& box, std::string link_base,
              std::function<void()> on_firings, std::function<std::int64_t()> now_ms = {});
  ~rule_engine();

  void start();
  void stop();
  // New events are committed.
  void wake();

  rule_engine_counters counters() const;
  // Evaluates one change event's JSON (no store): the firings it makes. For
  // the benchmark and unit tests; the engine calls it for each event.
  std::vector<firing> evaluate(const boost::json::object& event, std::uint64_t id) const;

  // One round on the caller's thread: a chunk of the log, then the pace rules
  // that are due. True while more of the log waits. (The engine's thread
  // calls it; tests call it with their clock instead of start().)
  bool poll();
  // When the next pace rule is due (wall ms), or 0 when there is none.
  std::int64_t next_pace_ms() const;

 private:
  void run();
  void load();
  const app::goal_config* goal_named(const std::string& name) const;
  // Goal rules on one metric event; `state` collects what to remember.
  void on_metric(const boost::json::object& ev, std::uint64_t id, std::vector<firing>& out,
                 std::map<std::string, std::string>& state);
  void run_pace(std::vector<firing>& out, std::map<std::string, std::string>& state);
  firing goal_firing(const app::rule_config& r, std::map<std::string, std::string> values, std::uint64_t id) const;
  const rule_sections cfg_;
  const std::vector<app::rule_config>& rules_;
  std::function<std::int64_t()> now_ms_;
  // Engine thread only: the goals' last values and daily values, the pace
  // rules' last runs; loaded from the outbox's rule_state at start.
  std::map<std::string, double> goal_values_;
  std::map<std::string, std::map<std::int64_t, double>> goal_days_;
  std::map<std::string, std::int64_t> pace_last_;
  bool loaded_ = false;
  store::event_store& log_;
  outbox& box_;
  const std::string link_base_;
  std::function<void()> on_firings_;
  std::vector<std::string> objects_;  // objects some rule watches
  std::uint64_t cursor_ = 0;          // engine thread only
  mutable std::atomic<std::uint64_t> evaluated_{0};
  std::atomic<std::uint64_t> fired_{0}, coalesced_{0}, refused_{0}, missed_{0};
  std::mutex mu_;
  std::condition_variable cv_;
  bool woken_ = false, stopping_ = false;
  std::thread thread_;
};

}  // namespace freshet::rules
