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
// Thread-safety: wake() from any thread; start()/stop() from the owner.
#pragma once

#include "app/config.hpp"
#include "rules/outbox.hpp"

#include <atomic>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <thread>

namespace freshet::store {
class event_log;
}

namespace freshet::rules {

struct rule_engine_counters {
  std::uint64_t evaluated = 0;  // (event, rule) pairs checked
  std::uint64_t fired = 0;      // firings written (per notifier)
  std::uint64_t coalesced = 0;  // of which gathered into an open message
  std::uint64_t refused = 0;    // firings refused by a full outbox
  std::uint64_t missed = 0;     // events retention removed before the rules read them
};

class rule_engine {
 public:
  // on_firings runs (on the engine's thread) after a commit that added messages.
  rule_engine(const std::vector<app::rule_config>& rules, store::event_log& log, outbox& box,
              std::string link_base, std::function<void()> on_firings);
  ~rule_engine();

  void start();
  void stop();
  // New events are committed.
  void wake();

  rule_engine_counters counters() const;
  // Evaluates one change event's JSON (no store): the firings it makes. For
  // the benchmark and unit tests; the engine calls it for each event.
  std::vector<firing> evaluate(const boost::json::object& event, std::uint64_t id) const;

 private:
  void run();
  bool step();  // one chunk; false when caught up

  const std::vector<app::rule_config>& rules_;
  store::event_log& log_;
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
