// The request limiter of one upstream credential, shared by everything that
// calls that upstream (polling, tenant refresh, webhook payload fetches), so
// together they never send faster than `requests_per_second`.
//
// Two rules at once. A window: at most N = floor(rate) request starts in
// any 1 s widened by `margin`; upstreams count arrivals in one-second
// windows (fixed or sliding), so this never exceeds their limit even when
// the network delays one request against another by up to the margin (3 %
// by default, 30 ms at Knack's 10/s: against the simulators the arrivals'
// jitter measured under a millisecond, docs/benchmarks.md; the margin was
// 10 % while the simulators' judge stamped requests when a loaded worker read
// them, not when they arrived). And a pace: starts are
// spaced window/N apart, with a tolerance of one start (GCRA), so an idle
// credential can send two requests back to back (a webhook's payload list,
// then its records) while sustained traffic stays evenly spread, which keeps
// arrivals from bunching at the upstream when its own processing lags.
//
// A 429 pauses every caller for as long as the upstream asks and halves the
// window's capacity (never below one request); successes restore it one
// request per two successes. A 429 also widens the margin (to 10 % at least,
// doubling after that, up to 50 %; one configured wider stays) for the limiter's life: it is the
// upstream saying that the path's jitter is more than the margin allowed
// for, and that does not pass the way a burst of another client's traffic does.
//
// Several instances on one store (Redis) share the credential: with
// share_pace, every start first takes a slot of the store's shared pace,
// spaced as this limiter spaces its own starts, and a 429 pauses that pace
// for every instance. Slots are reserved, first come first served across
// the deployment, so three instances together start no faster than one.
//
// Thread-safety: every member may be called from any thread; acquire()
// resumes on the caller's executor.
#pragma once

#include "store/event_store.hpp"

#include <boost/asio/awaitable.hpp>

#include <chrono>
#include <cstdint>
#include <deque>
#include <mutex>
#include <optional>

namespace freshet::sources {

struct rate_limiter_counters {
  std::uint64_t granted = 0;      // requests let through
  std::uint64_t rate_limited = 0; // 429s reported
  std::chrono::milliseconds waited{0};  // time callers spent waiting, summed (the shared pace's waits too)
  std::uint64_t shared_slots = 0;       // slots taken from the pace shared with other instances
};

// The limiter's rules as a pure function of time, so that they are tested on
// a clock the test moves, exactly, with no sleeping. Not thread-safe: the
// rate_limiter below locks around it.
class rate_schedule {
 public:
  using clock = std::chrono::steady_clock;
  explicit rate_schedule(double requests_per_second, double margin = 0.03);

  // The slot of one more request asked for at `now` (first come, first
  // served: slots never go backwards).
  clock::time_point grant(clock::time_point now);
  // A granted request about to start at `now`: nothing when it may (it is
  // then counted as started), or the time to try again (a caller that resumed
  // late must not start together with the next ones).
  std::optional<clock::time_point> try_start(clock::time_point now);
  void on_rate_limited(std::chrono::milliseconds wait, clock::time_point now);
  void on_success();

  clock::duration spacing() const { return window_ / static_cast<long>(capacity_); }
  clock::duration window() const { return window_; }
  std::size_t capacity() const { return capacity_; }
  double margin() const { return margin_; }

 private:
  const double rate_;
  const std::size_t max_capacity_;
  double margin_;
  clock::duration window_;
  std::size_t capacity_;
  int successes_ = 0;
  clock::time_point paused_until_{};
  clock::time_point next_{};  // the pace's theoretical next start (GCRA)
  std::deque<clock::time_point> starts_;  // the latest granted slots (some may be in the future)
  std::deque<clock::time_point> sent_;    // the latest actual starts
};

class rate_limiter {
 public:
  explicit rate_limiter(double requests_per_second, double margin = 0.03);

  // Every start also takes a slot of `pace` in `store` (which outlives
  // this limiter). Before the first acquire().
  void share_pace(store::event_store& store, std::string pace);

  // Completes when the caller may start one request.
  boost::asio::awaitable<void> acquire();
  // The upstream answered 429: nothing more before `wait` has passed, slower after.
  void on_rate_limited(std::chrono::milliseconds wait);
  // A request went through: recover gradually.
  void on_success();

  // The average time between starts at the current capacity (window / capacity).
  std::chrono::steady_clock::duration spacing() const;
  std::size_t capacity() const;  // starts allowed per window now
  double margin() const;         // the window's margin now (a fraction)
  rate_limiter_counters counters() const;

 private:
  using clock = std::chrono::steady_clock;
  mutable std::mutex mu_;  // guards the members below
  rate_schedule schedule_;
  rate_limiter_counters counters_;
  std::chrono::steady_clock::time_point shared_warned_{};  // the last warning that the shared pace failed
  // Set before the first acquire, then read only:
  store::event_store* shared_ = nullptr;
  std::string pace_;
};

}  // namespace freshet::sources
