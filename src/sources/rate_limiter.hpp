// The request pacer of one upstream credential, shared by everything that
// calls that upstream (polling, tenant refresh, webhook payload fetches), so
// together they never send faster than `requests_per_second`.
//
// Upstreams count arrivals in fixed one-second windows, and the network can
// bunch requests up, so the pacer spaces starts a little wider than 1/rate
// (`margin`). A 429 pauses it for as long as the upstream asks and doubles
// the spacing (at most 8x); each success afterwards narrows it again by 10%.
//
// Thread-safety: every member may be called from any thread; acquire()
// resumes on the caller's executor.
#pragma once

#include <boost/asio/awaitable.hpp>

#include <chrono>
#include <cstdint>
#include <mutex>

namespace freshet::sources {

struct rate_limiter_counters {
  std::uint64_t granted = 0;      // requests let through
  std::uint64_t rate_limited = 0; // 429s reported
  std::chrono::milliseconds waited{0};  // time callers spent waiting, summed
};

class rate_limiter {
 public:
  explicit rate_limiter(double requests_per_second, double margin = 0.05);

  // Completes when the caller may start one request.
  boost::asio::awaitable<void> acquire();
  // The upstream answered 429: nothing more before `wait` has passed, slower after.
  void on_rate_limited(std::chrono::milliseconds wait);
  // A request went through: recover the spacing gradually.
  void on_success();

  std::chrono::steady_clock::duration spacing() const;
  rate_limiter_counters counters() const;

 private:
  using clock = std::chrono::steady_clock;
  const clock::duration base_;
  mutable std::mutex mu_;  // guards the members below
  clock::duration spacing_;
  clock::time_point next_{};
  rate_limiter_counters counters_;
};

}  // namespace freshet::sources
